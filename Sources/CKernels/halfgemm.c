// Prefill products with 16-bit weights kept as stored: y = x · wᵀ for float32 prompt rows x [m, k] and bf16 or f16
// weight rows w [n, k], in register tiles of 5 prompt rows × 5 weight rows over the whole k. The weights are widened
// in registers as they are loaded (bf16: a 16-bit shift; f16: vcvtph2ps), so there is no widened copy and no
// packing; each tile's 25 sums are float32 vectors reduced once at the end. In a microbenchmark on Zen 4 (one
// thread, 512 × 4096 × 4095) this ran at 1.06–1.09 of OpenBLAS's sgemm on the same values in float32, where the
// 4 × 4 tile the bf16-dot kernel uses reached 0.5 and widening blocks for sgemm pays the widening and the repacking.
// AVX-512 only; other CPUs keep the widening path (mg_half_gemm_available says which).
#include <stddef.h>
#include <stdint.h>

#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GEMM_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define TILE 5
// Weight rows per block: 5-row tiles of one block are taken against every prompt row before the next block, so
// the block (64 rows of k values) stays in L2 while the prompt rows stream from L3.
#define BLOCK_ROWS 64

GEMM_ATTR static inline __m512 load_half(const uint16_t *p, int bf16, __mmask16 mask) {
    __m256i h = _mm256_maskz_loadu_epi16(mask, p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

// out[i·5 + j] = Σ_t x_i[t]·w_j[t] for t < k.
GEMM_ATTR static void tile5x5(const float *const *x, const uint16_t *const *w, int bf16, size_t k, float *out) {
    __m512 c[TILE * TILE];
    for (int i = 0; i < TILE * TILE; i++) c[i] = _mm512_setzero_ps();
    size_t t = 0;
    for (; t + 16 <= k; t += 16) {
        __m512 b[TILE];
        for (int j = 0; j < TILE; j++) b[j] = load_half(w[j] + t, bf16, 0xFFFF);
        for (int i = 0; i < TILE; i++) {
            __m512 a = _mm512_loadu_ps(x[i] + t);
            for (int j = 0; j < TILE; j++) c[i * TILE + j] = _mm512_fmadd_ps(a, b[j], c[i * TILE + j]);
        }
    }
    if (t < k) {  // the last < 16 values: masked loads read nothing past the rows' ends
        __mmask16 mask = (__mmask16)((1u << (k - t)) - 1);
        __m512 b[TILE];
        for (int j = 0; j < TILE; j++) b[j] = load_half(w[j] + t, bf16, mask);
        for (int i = 0; i < TILE; i++) {
            __m512 a = _mm512_maskz_loadu_ps(mask, x[i] + t);
            for (int j = 0; j < TILE; j++) c[i * TILE + j] = _mm512_fmadd_ps(a, b[j], c[i * TILE + j]);
        }
    }
    for (int i = 0; i < TILE * TILE; i++) out[i] = _mm512_reduce_add_ps(c[i]);
}

GEMM_ATTR static void gemm_avx512(const float *x, size_t m, size_t k, const uint16_t *w, int bf16, size_t n_begin,
                                  size_t n_end, float *y, size_t ldy, int accumulate) {
    float out[TILE * TILE];
    for (size_t nb = n_begin; nb < n_end; nb += BLOCK_ROWS) {
        size_t ne = nb + BLOCK_ROWS < n_end ? nb + BLOCK_ROWS : n_end;
        for (size_t r = 0; r < m; r += TILE) {
            size_t mr = m - r < TILE ? m - r : TILE;
            const float *xr[TILE];
            // A tile at the edge repeats its last row; only the real rows are written.
            for (size_t i = 0; i < TILE; i++) xr[i] = x + (r + (i < mr ? i : mr - 1)) * k;
            for (size_t c = nb; c < ne; c += TILE) {
                size_t nr = ne - c < TILE ? ne - c : TILE;
                const uint16_t *wr[TILE];
                for (size_t j = 0; j < TILE; j++) wr[j] = w + (c + (j < nr ? j : nr - 1)) * k;
                tile5x5(xr, wr, bf16, k, out);
                for (size_t i = 0; i < mr; i++)
                    for (size_t j = 0; j < nr; j++) {
                        float *d = y + (r + i) * ldy + c + j;
                        *d = accumulate ? *d + out[i * TILE + j] : out[i * TILE + j];
                    }
            }
        }
    }
}
#endif  // __x86_64__

int mg_half_gemm_available(void) {
#if defined(__x86_64__)
    return mg_vector_level() == 2;
#else
    return 0;
#endif
}

void mg_half_gemm(const float *x, size_t m, size_t k, const uint16_t *w, int bf16, size_t n_begin, size_t n_end,
                  float *y, size_t ldy, int accumulate) {
#if defined(__x86_64__)
    if (mg_half_gemm_available() && m > 0 && k > 0) {
        gemm_avx512(x, m, k, w, bf16, n_begin, n_end, y, ldy, accumulate);
        return;
    }
#endif
    // Reference (and k = 0): plain sums in float32.
    for (size_t r = 0; r < m; r++)
        for (size_t n = n_begin; n < n_end; n++) {
            float s = 0;
            for (size_t j = 0; j < k; j++) {
                uint16_t h = w[n * k + j];
                float v;
                if (bf16) {
                    uint32_t bits = (uint32_t)h << 16;
                    __builtin_memcpy(&v, &bits, 4);
                } else {
                    mg_half_widen(&h, 0, 1, &v);
                }
                s += x[r * k + j] * v;
            }
            y[r * ldy + n] = accumulate ? y[r * ldy + n] + s : s;
        }
}
