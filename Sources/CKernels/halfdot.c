// Decoding with f16 weights the way llama.cpp computes an F16 model: the activations rounded to f16 once per
// product (its vec_dot_type), then both operands widened in registers for float32 FMAs. Half the activation bytes
// of the float32 path keeps x in L1 beside the weight stream: for 11008-wide rows (a 7B's down projection) the
// float32 x (44 KB) does not fit and the stream fell to ~0.6 of the read bandwidth. Compiled for the baseline,
// AVX2 + FMA + F16C and AVX-512, chosen at run time as half.c's kernels are.
#include "CKernels.h"
#include "scalar.h"
#include "widen.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ---- baseline ---------------------------------------------------------------------------------------------------

static float dot_h_baseline(const uint16_t *w, int bf16, size_t k, const uint16_t *xh) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= k; j += 8)
        for (int l = 0; l < 8; l++) s[l] += widen_one(w, j + l, bf16) * f16_to_f32(xh[j + l]);
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; j < k; j++) t += widen_one(w, j, bf16) * f16_to_f32(xh[j]);
    return t;
}

static void round_baseline(const float *x, size_t n, uint16_t *xh) {
    for (size_t i = 0; i < n; i++) xh[i] = f32_to_f16_rne(x[i]);
}

#if defined(__x86_64__)

// ---- AVX2 + FMA + F16C: 8 lanes, four accumulators --------------------------------------------------------------

AVX2_ATTR static float dot_h_avx2(const uint16_t *w, int bf16, size_t k, const uint16_t *xh) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    size_t j = 0;
    for (; j + 32 <= k; j += 32) {
        a = _mm256_fmadd_ps(widen8_avx2(w + j, bf16), widen8_avx2(xh + j, 0), a);
        b = _mm256_fmadd_ps(widen8_avx2(w + j + 8, bf16), widen8_avx2(xh + j + 8, 0), b);
        c = _mm256_fmadd_ps(widen8_avx2(w + j + 16, bf16), widen8_avx2(xh + j + 16, 0), c);
        d = _mm256_fmadd_ps(widen8_avx2(w + j + 24, bf16), widen8_avx2(xh + j + 24, 0), d);
    }
    for (; j + 8 <= k; j += 8) a = _mm256_fmadd_ps(widen8_avx2(w + j, bf16), widen8_avx2(xh + j, 0), a);
    float t = hsum8_avx2(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    for (; j < k; j++) t += widen_one(w, j, bf16) * f16_to_f32(xh[j]);
    return t;
}

AVX2_ATTR static void round_avx2(const float *x, size_t n, uint16_t *xh) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(xh + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) xh[i] = f32_to_f16_rne(x[i]);
}

// ---- AVX-512: 32 values per 64-byte load, four accumulators ------------------------------------------------------

AVX512_ATTR static float dot_h_avx512(const uint16_t *w, int bf16, size_t k, const uint16_t *xh) {
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a, w0, w1, x0, x1;
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
        widen32_avx512(w + j, bf16, &w0, &w1);
        widen32_avx512(xh + j, 0, &x0, &x1);
        a = _mm512_fmadd_ps(w0, x0, a);
        b = _mm512_fmadd_ps(w1, x1, b);
        widen32_avx512(w + j + 32, bf16, &w0, &w1);
        widen32_avx512(xh + j + 32, 0, &x0, &x1);
        c = _mm512_fmadd_ps(w0, x0, c);
        d = _mm512_fmadd_ps(w1, x1, d);
    }
    for (; j + 32 <= k; j += 32) {
        widen32_avx512(w + j, bf16, &w0, &w1);
        widen32_avx512(xh + j, 0, &x0, &x1);
        a = _mm512_fmadd_ps(w0, x0, a);
        b = _mm512_fmadd_ps(w1, x1, b);
    }
    float t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
    for (; j < k; j++) t += widen_one(w, j, bf16) * f16_to_f32(xh[j]);
    return t;
}

AVX512_ATTR static void round_avx512(const float *x, size_t n, uint16_t *xh) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(xh + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) xh[i] = f32_to_f16_rne(x[i]);
}

#endif  // __x86_64__

// ---- dispatch ---------------------------------------------------------------------------------------------------

void mg_f16_round(const float *x, size_t n, uint16_t *xh) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: round_avx512(x, n, xh); return;
    case 1: round_avx2(x, n, xh); return;
    default: break;
    }
#endif
    round_baseline(x, n, xh);
}

void mg_half_rows_dot_f16x(const uint16_t *w, int bf16, size_t k, const uint16_t *xh, size_t m, size_t ldx,
                           size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
    float (*dot)(const uint16_t *, int, size_t, const uint16_t *) = dot_h_baseline;
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: dot = dot_h_avx512; break;
    case 1: dot = dot_h_avx2; break;
    default: break;
    }
#endif
    // One weight row at a time (a single stream per core), then every prompt row against it while it is in L1.
    for (size_t row = row_begin; row < row_end; row++) {
        const uint16_t *wr = w + row * k;
        for (size_t r = 0; r < m; r++) {
            float v = dot(wr, bf16, k, xh + r * ldx);
            if (accumulate) y[r * ldy + row] += v; else y[r * ldy + row] = v;
        }
    }
}
