// Prefill with bf16 weights where the CPU has AVX512-BF16 (see CKernels.h): the prompt rows are rounded to bf16
// once, and tiles of 4 prompt rows × 4 weight rows are accumulated with `vdpbf16ps` (32 products per instruction,
// twice float32 FMA's rate) straight from the weights' stored row-major layout — nothing is widened or packed.
// This is what PyTorch and llama.cpp do with a bf16 model: activations in bf16, products summed in float32.
#include "CKernels.h"
#include "scalar.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Weight rows per block kept in L2 while every prompt row passes over it, and the k-range of one pass (a 4-row
// prompt tile of KC bf16 values stays in L1).
#define BF16_BLOCK_ROWS 64
#define BF16_KC 1024

int mg_kernels_have_bf16_dot(void) {
#if defined(__x86_64__)
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vl");
    }
    return has && mg_vector_level() == 2;
#else
    return 0;
#endif
}

// Scalar reference of mg_bf16_dot_rows (non-x86 builds).
static void dot_rows_scalar(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w,
                            size_t n_begin, size_t n_end, float *y, size_t ldy, int accumulate) {
    for (size_t r = 0; r < m; r++)
        for (size_t n = n_begin; n < n_end; n++) {
            float s = 0;
            for (size_t t = 0; t < terms; t++) {
                const uint16_t *xr = xb + (r * terms + t) * k;
                for (size_t j = 0; j < k; j++) s += bf16_to_f32(xr[j]) * bf16_to_f32(w[n * k + j]);
            }
            if (accumulate) y[r * ldy + n] += s; else y[r * ldy + n] = s;
        }
}

#if defined(__x86_64__)

#define BF16_ATTR __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

// out[i·4 + j] = Σ_{k0 ≤ t < k1} x_i[t]·w_j[t] for 4 prompt rows x_i and 4 weight rows w_j.
BF16_ATTR static void tile4x4(const uint16_t *x0, const uint16_t *x1, const uint16_t *x2, const uint16_t *x3,
                              const uint16_t *w0, const uint16_t *w1, const uint16_t *w2, const uint16_t *w3,
                              size_t k0, size_t k1, float out[16]) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00,
           c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
#define BF16_STEP(LOAD)                                                                                            \
    {                                                                                                              \
        __m512bh a0 = (__m512bh)LOAD(x0), a1 = (__m512bh)LOAD(x1), a2 = (__m512bh)LOAD(x2),                        \
                 a3 = (__m512bh)LOAD(x3);                                                                          \
        __m512bh b = (__m512bh)LOAD(w0);                                                                           \
        c00 = _mm512_dpbf16_ps(c00, a0, b); c10 = _mm512_dpbf16_ps(c10, a1, b);                                    \
        c20 = _mm512_dpbf16_ps(c20, a2, b); c30 = _mm512_dpbf16_ps(c30, a3, b);                                    \
        b = (__m512bh)LOAD(w1);                                                                                    \
        c01 = _mm512_dpbf16_ps(c01, a0, b); c11 = _mm512_dpbf16_ps(c11, a1, b);                                    \
        c21 = _mm512_dpbf16_ps(c21, a2, b); c31 = _mm512_dpbf16_ps(c31, a3, b);                                    \
        b = (__m512bh)LOAD(w2);                                                                                    \
        c02 = _mm512_dpbf16_ps(c02, a0, b); c12 = _mm512_dpbf16_ps(c12, a1, b);                                    \
        c22 = _mm512_dpbf16_ps(c22, a2, b); c32 = _mm512_dpbf16_ps(c32, a3, b);                                    \
        b = (__m512bh)LOAD(w3);                                                                                    \
        c03 = _mm512_dpbf16_ps(c03, a0, b); c13 = _mm512_dpbf16_ps(c13, a1, b);                                    \
        c23 = _mm512_dpbf16_ps(c23, a2, b); c33 = _mm512_dpbf16_ps(c33, a3, b);                                    \
    }
    size_t t = k0;
    for (; t + 32 <= k1; t += 32) {
#define FULL_LOAD(p) _mm512_loadu_si512((const void *)((p) + t))
        BF16_STEP(FULL_LOAD)
#undef FULL_LOAD
    }
    if (t < k1) {  // the last < 32 values: masked loads read nothing past the rows' ends
        __mmask32 mask = (__mmask32)((1ull << (k1 - t)) - 1);
#define MASKED_LOAD(p) _mm512_maskz_loadu_epi16(mask, (const void *)((p) + t))
        BF16_STEP(MASKED_LOAD)
#undef MASKED_LOAD
    }
#undef BF16_STEP
    out[0] = _mm512_reduce_add_ps(c00); out[1] = _mm512_reduce_add_ps(c01);
    out[2] = _mm512_reduce_add_ps(c02); out[3] = _mm512_reduce_add_ps(c03);
    out[4] = _mm512_reduce_add_ps(c10); out[5] = _mm512_reduce_add_ps(c11);
    out[6] = _mm512_reduce_add_ps(c12); out[7] = _mm512_reduce_add_ps(c13);
    out[8] = _mm512_reduce_add_ps(c20); out[9] = _mm512_reduce_add_ps(c21);
    out[10] = _mm512_reduce_add_ps(c22); out[11] = _mm512_reduce_add_ps(c23);
    out[12] = _mm512_reduce_add_ps(c30); out[13] = _mm512_reduce_add_ps(c31);
    out[14] = _mm512_reduce_add_ps(c32); out[15] = _mm512_reduce_add_ps(c33);
}

// xb holds `terms` bf16 rows per prompt row (the value, then what rounding it left) — see mg_bf16_split.
BF16_ATTR static void dot_rows_avx512bf16(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w,
                                          size_t n_begin, size_t n_end, float *y, size_t ldy, int accumulate) {
    float out[16];
    size_t rows = m * terms;  // bf16 rows of xb; a tile takes 4 of them = 4 / terms prompt rows
    for (size_t nb = n_begin; nb < n_end; nb += BF16_BLOCK_ROWS) {
        size_t ne = nb + BF16_BLOCK_ROWS < n_end ? nb + BF16_BLOCK_ROWS : n_end;
        for (size_t k0 = 0; k0 < k; k0 += BF16_KC) {
            size_t k1 = k0 + BF16_KC < k ? k0 + BF16_KC : k;
            int add = accumulate || k0 > 0;
            for (size_t r = 0; r < rows; r += 4) {
                size_t mr = rows - r < 4 ? rows - r : 4;
                // A tile at the edge repeats its last row; only the real rows are written.
                const uint16_t *x0 = xb + r * k, *x1 = xb + (r + (mr > 1 ? 1 : 0)) * k,
                               *x2 = xb + (r + (mr > 2 ? 2 : 0)) * k, *x3 = xb + (r + (mr > 3 ? 3 : 0)) * k;
                for (size_t c = nb; c < ne; c += 4) {
                    size_t nr = ne - c < 4 ? ne - c : 4;
                    const uint16_t *w0 = w + c * k, *w1 = w + (c + (nr > 1 ? 1 : 0)) * k,
                                   *w2 = w + (c + (nr > 2 ? 2 : 0)) * k, *w3 = w + (c + (nr > 3 ? 3 : 0)) * k;
                    tile4x4(x0, x1, x2, x3, w0, w1, w2, w3, k0, k1, out);
                    for (size_t i = 0; i < mr; i += terms)
                        for (size_t j = 0; j < nr; j++) {
                            float v = terms == 2 ? out[i * 4 + j] + out[(i + 1) * 4 + j] : out[i * 4 + j];
                            float *dst = y + ((r + i) / terms) * ldy + c + j;
                            if (add) *dst += v; else *dst = v;
                        }
                }
            }
        }
    }
}

// Decoding (a few prompt rows): one weight row at a time against each prompt row's `terms` bf16 rows — a single
// sequential stream per core, with the prompt rows (2 bytes a value) and the current weight row in L1. Measured
// on a 7B decode step: 0.90 of the read bound, where four interleaved weight rows per x load reached 0.67–0.84.
// Every dot is summed the same way whatever m is (four accumulators per term over 128-value steps, then the
// 32-value steps into the first, the masked tail into the second), so batched rows equal rows alone.
BF16_ATTR static float dot1_avx512bf16(const uint16_t *wr, const uint16_t *xh, const uint16_t *xl, size_t k) {
    __m512 h0 = _mm512_setzero_ps(), h1 = h0, h2 = h0, h3 = h0, l0 = h0, l1 = h0, l2 = h0, l3 = h0;
#define DOT1_STEP(LOAD, H, L, OFF)                                                                                 \
    {                                                                                                              \
        __m512bh p = (__m512bh)LOAD(wr, OFF);                                                                      \
        H = _mm512_dpbf16_ps(H, p, (__m512bh)LOAD(xh, OFF));                                                       \
        if (xl) L = _mm512_dpbf16_ps(L, p, (__m512bh)LOAD(xl, OFF));                                               \
    }
#define FULL_LOAD(p, off) _mm512_loadu_si512((const void *)((p) + (off)))
    size_t t = 0;
    for (; t + 128 <= k; t += 128) {
        DOT1_STEP(FULL_LOAD, h0, l0, t)
        DOT1_STEP(FULL_LOAD, h1, l1, t + 32)
        DOT1_STEP(FULL_LOAD, h2, l2, t + 64)
        DOT1_STEP(FULL_LOAD, h3, l3, t + 96)
    }
    for (; t + 32 <= k; t += 32) DOT1_STEP(FULL_LOAD, h0, l0, t)
#undef FULL_LOAD
    if (t < k) {
        __mmask32 mask = (__mmask32)((1ull << (k - t)) - 1);
#define MASKED_LOAD(p, off) _mm512_maskz_loadu_epi16(mask, (const void *)((p) + (off)))
        DOT1_STEP(MASKED_LOAD, h1, l1, t)
#undef MASKED_LOAD
    }
#undef DOT1_STEP
    __m512 h = _mm512_add_ps(_mm512_add_ps(h0, h1), _mm512_add_ps(h2, h3));
    __m512 l = _mm512_add_ps(_mm512_add_ps(l0, l1), _mm512_add_ps(l2, l3));
    return _mm512_reduce_add_ps(_mm512_add_ps(h, l));
}

BF16_ATTR static void rows_dot_avx512bf16(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w,
                                          size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
    for (size_t row = row_begin; row < row_end; row++) {
        for (size_t r = 0; r < m; r++) {
            const uint16_t *xh = xb + r * terms * k;
            float v = dot1_avx512bf16(w + row * k, xh, terms == 2 ? xh + k : NULL, k);
            if (accumulate) y[r * ldy + row] += v; else y[r * ldy + row] = v;
        }
    }
}

#endif  // __x86_64__

void mg_bf16_split(const float *x, size_t m, size_t k, size_t terms, uint16_t *xb) {
    for (size_t r = 0; r < m; r++) {
        uint16_t *hi = xb + r * terms * k;
        for (size_t j = 0; j < k; j++) {
            float v = x[r * k + j];
            hi[j] = f32_to_bf16_rne(v);
            if (terms == 2) hi[k + j] = f32_to_bf16_rne(v - bf16_to_f32(hi[j]));
        }
    }
}

void mg_bf16_dot_rows(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w, size_t n_begin,
                      size_t n_end, float *y, size_t ldy, int accumulate) {
    if (k == 0) {
        if (!accumulate)
            for (size_t r = 0; r < m; r++)
                for (size_t n = n_begin; n < n_end; n++) y[r * ldy + n] = 0;
        return;
    }
#if defined(__x86_64__)
    if (mg_kernels_have_bf16_dot()) {
        dot_rows_avx512bf16(xb, terms, m, k, w, n_begin, n_end, y, ldy, accumulate);
        return;
    }
#endif
    dot_rows_scalar(xb, terms, m, k, w, n_begin, n_end, y, ldy, accumulate);
}

void mg_bf16_rows_dot(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w, size_t row_begin,
                      size_t row_end, float *y, size_t ldy, int accumulate) {
#if defined(__x86_64__)
    if (mg_kernels_have_bf16_dot()) {
        rows_dot_avx512bf16(xb, terms, m, k, w, row_begin, row_end, y, ldy, accumulate);
        return;
    }
#endif
    dot_rows_scalar(xb, terms, m, k, w, row_begin, row_end, y, ldy, accumulate);
}
