// Products with 16-bit weights kept as stored (bf16 or f16, memory-mapped from a checkpoint), see CKernels.h:
// decoding's streaming dot products (each weight row read once for every prompt row), widening a block of rows to
// float32 (the f32 prefill path), and the streaming read that measures the bandwidth decoding is bounded by.
// Each kernel is compiled for the baseline, AVX2 + FMA + F16C and AVX-512 (F, BW, VL), chosen at run time.
#include "CKernels.h"
#include "scalar.h"
#include "widen.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// ---- baseline ---------------------------------------------------------------------------------------------------

static void rows_dot_baseline(const uint16_t *w, int bf16, size_t k, const float *x, size_t m, size_t ldx,
                              size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
    for (size_t row = row_begin; row < row_end; row++) {
        const uint16_t *wr = w + row * k;
        for (size_t r = 0; r < m; r++) {
            const float *xr = x + r * ldx;
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            size_t j = 0;
            for (; j + 8 <= k; j += 8)
                for (int l = 0; l < 8; l++) s[l] += widen_one(wr, j + l, bf16) * xr[j + l];
            float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
            for (; j < k; j++) t += widen_one(wr, j, bf16) * xr[j];
            if (accumulate) y[r * ldy + row] += t; else y[r * ldy + row] = t;
        }
    }
}

static void widen_baseline(const uint16_t *src, int bf16, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = widen_one(src, i, bf16);
}

static double read_sum_baseline(const float *x, size_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    double t = 0;
    for (int l = 0; l < 8; l++) t += s[l];
    for (; i < n; i++) t += x[i];
    return t;
}

#if defined(__x86_64__)

// ---- AVX2 + FMA + F16C: 8 lanes ---------------------------------------------------------------------------------

// Four weight rows against one prompt row: every x vector loaded once serves four rows, which keeps the loads per
// weight byte low enough for the weights to stream at the read bandwidth. Each dot is summed the same way wherever
// it sits (chunk pairs of 8 into two accumulators, then the scalar tail), so a result never depends on its
// neighbours; a block at the edge repeats its last row and drops the repeats.
AVX2_ATTR static inline __attribute__((always_inline)) void dot4_avx2(const uint16_t *w0, const uint16_t *w1, const uint16_t *w2, const uint16_t *w3,
                                int bf16, size_t k, const float *x, float t[4]) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    size_t j = 0;
    for (; j + 16 <= k; j += 16) {
        __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
        a00 = _mm256_fmadd_ps(widen8_avx2(w0 + j, bf16), x0, a00);
        a01 = _mm256_fmadd_ps(widen8_avx2(w0 + j + 8, bf16), x1, a01);
        a10 = _mm256_fmadd_ps(widen8_avx2(w1 + j, bf16), x0, a10);
        a11 = _mm256_fmadd_ps(widen8_avx2(w1 + j + 8, bf16), x1, a11);
        a20 = _mm256_fmadd_ps(widen8_avx2(w2 + j, bf16), x0, a20);
        a21 = _mm256_fmadd_ps(widen8_avx2(w2 + j + 8, bf16), x1, a21);
        a30 = _mm256_fmadd_ps(widen8_avx2(w3 + j, bf16), x0, a30);
        a31 = _mm256_fmadd_ps(widen8_avx2(w3 + j + 8, bf16), x1, a31);
    }
    if (j + 8 <= k) {
        __m256 x0 = _mm256_loadu_ps(x + j);
        a00 = _mm256_fmadd_ps(widen8_avx2(w0 + j, bf16), x0, a00);
        a10 = _mm256_fmadd_ps(widen8_avx2(w1 + j, bf16), x0, a10);
        a20 = _mm256_fmadd_ps(widen8_avx2(w2 + j, bf16), x0, a20);
        a30 = _mm256_fmadd_ps(widen8_avx2(w3 + j, bf16), x0, a30);
        j += 8;
    }
    t[0] = hsum8_avx2(_mm256_add_ps(a00, a01));
    t[1] = hsum8_avx2(_mm256_add_ps(a10, a11));
    t[2] = hsum8_avx2(_mm256_add_ps(a20, a21));
    t[3] = hsum8_avx2(_mm256_add_ps(a30, a31));
    for (; j < k; j++) {
        t[0] += widen_one(w0, j, bf16) * x[j];
        t[1] += widen_one(w1, j, bf16) * x[j];
        t[2] += widen_one(w2, j, bf16) * x[j];
        t[3] += widen_one(w3, j, bf16) * x[j];
    }
}

// One weight row against one x row, summed exactly as dot4_avx2 sums each of its rows (the same result bit for bit).
// Decode (one prompt row) goes one weight row at a time: a single stream per core keeps the hardware prefetcher on
// one sequential run, which measured closer to the read bandwidth than four interleaved rows.
AVX2_ATTR static inline __attribute__((always_inline)) float dot1_avx2(const uint16_t *w0, int bf16, size_t k,
                                                                       const float *x) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00;
    size_t j = 0;
    for (; j + 16 <= k; j += 16) {
        a00 = _mm256_fmadd_ps(widen8_avx2(w0 + j, bf16), _mm256_loadu_ps(x + j), a00);
        a01 = _mm256_fmadd_ps(widen8_avx2(w0 + j + 8, bf16), _mm256_loadu_ps(x + j + 8), a01);
    }
    if (j + 8 <= k) {
        a00 = _mm256_fmadd_ps(widen8_avx2(w0 + j, bf16), _mm256_loadu_ps(x + j), a00);
        j += 8;
    }
    float t = hsum8_avx2(_mm256_add_ps(a00, a01));
    for (; j < k; j++) t += widen_one(w0, j, bf16) * x[j];
    return t;
}

// Blocks of four weight rows; each block is read from memory once and stays in cache for the other prompt rows.
#define DEFINE_ROWS_DOT(suffix, attributes)                                                                        \
    attributes static void rows_dot_##suffix(const uint16_t *w, int bf16, size_t k, const float *x, size_t m,      \
                                             size_t ldx, size_t row_begin, size_t row_end, float *y, size_t ldy,   \
                                             int accumulate) {                                                     \
        if (m == 1) {                                                                                              \
            for (size_t row = row_begin; row < row_end; row++) {                                                   \
                float v = bf16 ? dot1_##suffix(w + row * k, 1, k, x) : dot1_##suffix(w + row * k, 0, k, x);        \
                if (accumulate) y[row] += v; else y[row] = v;                                                      \
            }                                                                                                      \
            return;                                                                                                \
        }                                                                                                          \
        float t[4];                                                                                                \
        for (size_t row = row_begin; row < row_end; row += 4) {                                                    \
            size_t nr = row_end - row < 4 ? row_end - row : 4;                                                     \
            const uint16_t *w0 = w + row * k, *w1 = w + (row + (nr > 1 ? 1 : 0)) * k,                              \
                           *w2 = w + (row + (nr > 2 ? 2 : 0)) * k, *w3 = w + (row + (nr > 3 ? 3 : 0)) * k;         \
            for (size_t r = 0; r < m; r++) {                                                                       \
                if (bf16) /* a constant inside dot4: no per-vector branch */                                       \
                    dot4_##suffix(w0, w1, w2, w3, 1, k, x + r * ldx, t);                                           \
                else                                                                                               \
                    dot4_##suffix(w0, w1, w2, w3, 0, k, x + r * ldx, t);                                           \
                for (size_t i = 0; i < nr; i++) {                                                                  \
                    if (accumulate) y[r * ldy + row + i] += t[i]; else y[r * ldy + row + i] = t[i];                \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

DEFINE_ROWS_DOT(avx2, AVX2_ATTR)

AVX2_ATTR static void widen_avx2(const uint16_t *src, int bf16, size_t n, float *dst) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, widen8_avx2(src + i, bf16));
    for (; i < n; i++) dst[i] = widen_one(src, i, bf16);
}

AVX2_ATTR static double read_sum_avx2(const float *x, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    double t = hsum8_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) t += x[i];
    return t;
}

// ---- AVX-512 (F, BW, VL) + F16C: 16 lanes -----------------------------------------------------------------------

// One row's 64-wide step into its four accumulators, and the order every AVX-512 dot sums in: 64-element steps into
// four accumulators (16 lanes each), remaining 16-element chunks into the first, ((a + b) + (c + d)) reduced, then
// the scalar tail. dot1 and dot4 both follow it, so a row's result never depends on its neighbours.
#define STEP64_AVX512(wr, a, b, c, d, x0, x1, x2, x3)                                                               \
    do {                                                                                                           \
        __m512 lo_, hi_;                                                                                           \
        widen32_avx512((wr) + j, bf16, &lo_, &hi_);                                                                \
        a = _mm512_fmadd_ps(lo_, x0, a);                                                                           \
        b = _mm512_fmadd_ps(hi_, x1, b);                                                                           \
        widen32_avx512((wr) + j + 32, bf16, &lo_, &hi_);                                                           \
        c = _mm512_fmadd_ps(lo_, x2, c);                                                                           \
        d = _mm512_fmadd_ps(hi_, x3, d);                                                                           \
    } while (0)

AVX512_ATTR static inline float finish_avx512(__m512 a, __m512 b, __m512 c, __m512 d) {
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)));
}

// As dot4_avx2 (four weight rows per x load), 16 lanes, summed as described above.
AVX512_ATTR static inline __attribute__((always_inline)) void dot4_avx512(const uint16_t *w0, const uint16_t *w1, const uint16_t *w2, const uint16_t *w3,
                                    int bf16, size_t k, const float *x, float t[4]) {
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, c0 = a0, d0 = a0, a1 = a0, b1 = a0, c1 = a0, d1 = a0;
    __m512 a2 = a0, b2 = a0, c2 = a0, d2 = a0, a3 = a0, b3 = a0, c3 = a0, d3 = a0;
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
        __m512 x0 = _mm512_loadu_ps(x + j), x1 = _mm512_loadu_ps(x + j + 16);
        __m512 x2 = _mm512_loadu_ps(x + j + 32), x3 = _mm512_loadu_ps(x + j + 48);
        STEP64_AVX512(w0, a0, b0, c0, d0, x0, x1, x2, x3);
        STEP64_AVX512(w1, a1, b1, c1, d1, x0, x1, x2, x3);
        STEP64_AVX512(w2, a2, b2, c2, d2, x0, x1, x2, x3);
        STEP64_AVX512(w3, a3, b3, c3, d3, x0, x1, x2, x3);
    }
    for (; j + 16 <= k; j += 16) {
        __m512 x0 = _mm512_loadu_ps(x + j);
        a0 = _mm512_fmadd_ps(widen16_avx512(w0 + j, bf16), x0, a0);
        a1 = _mm512_fmadd_ps(widen16_avx512(w1 + j, bf16), x0, a1);
        a2 = _mm512_fmadd_ps(widen16_avx512(w2 + j, bf16), x0, a2);
        a3 = _mm512_fmadd_ps(widen16_avx512(w3 + j, bf16), x0, a3);
    }
    t[0] = finish_avx512(a0, b0, c0, d0);
    t[1] = finish_avx512(a1, b1, c1, d1);
    t[2] = finish_avx512(a2, b2, c2, d2);
    t[3] = finish_avx512(a3, b3, c3, d3);
    for (; j < k; j++) {
        t[0] += widen_one(w0, j, bf16) * x[j];
        t[1] += widen_one(w1, j, bf16) * x[j];
        t[2] += widen_one(w2, j, bf16) * x[j];
        t[3] += widen_one(w3, j, bf16) * x[j];
    }
}

// One weight row (decode), summed as dot4_avx512 sums each of its rows.
AVX512_ATTR static inline __attribute__((always_inline)) float dot1_avx512(const uint16_t *w0, int bf16, size_t k,
                                                                           const float *x) {
    __m512 a0 = _mm512_setzero_ps(), b0 = a0, c0 = a0, d0 = a0;
    size_t j = 0;
    for (; j + 64 <= k; j += 64) {
        __m512 x0 = _mm512_loadu_ps(x + j), x1 = _mm512_loadu_ps(x + j + 16);
        __m512 x2 = _mm512_loadu_ps(x + j + 32), x3 = _mm512_loadu_ps(x + j + 48);
        STEP64_AVX512(w0, a0, b0, c0, d0, x0, x1, x2, x3);
    }
    for (; j + 16 <= k; j += 16) a0 = _mm512_fmadd_ps(widen16_avx512(w0 + j, bf16), _mm512_loadu_ps(x + j), a0);
    float t = finish_avx512(a0, b0, c0, d0);
    for (; j < k; j++) t += widen_one(w0, j, bf16) * x[j];
    return t;
}

DEFINE_ROWS_DOT(avx512, AVX512_ATTR)

AVX512_ATTR static void widen_avx512(const uint16_t *src, int bf16, size_t n, float *dst) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, widen16_avx512(src + i, bf16));
    for (; i < n; i++) dst[i] = widen_one(src, i, bf16);
}

AVX512_ATTR static double read_sum_avx512(const float *x, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    double t = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; i++) t += x[i];
    return t;
}

#endif  // __x86_64__

// ---- dispatch ---------------------------------------------------------------------------------------------------

static int detected_level(void) {
#if defined(__x86_64__)
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma"))
            level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
            level = 1;
        else
            level = 0;
    }
    return level;
#else
    return 0;
#endif
}

static int level_limit = 2;

void mg_limit_vector_level(int level) { level_limit = level < 0 ? 0 : level > 2 ? 2 : level; }

int mg_vector_level(void) {
    int level = detected_level();
    return level < level_limit ? level : level_limit;
}

void mg_half_rows_dot(const uint16_t *w, int bf16, size_t k, const float *x, size_t m, size_t ldx,
                      size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: rows_dot_avx512(w, bf16, k, x, m, ldx, row_begin, row_end, y, ldy, accumulate); return;
    case 1: rows_dot_avx2(w, bf16, k, x, m, ldx, row_begin, row_end, y, ldy, accumulate); return;
    default: break;
    }
#endif
    rows_dot_baseline(w, bf16, k, x, m, ldx, row_begin, row_end, y, ldy, accumulate);
}

void mg_half_widen(const uint16_t *src, int bf16, size_t n, float *dst) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: widen_avx512(src, bf16, n, dst); return;
    case 1: widen_avx2(src, bf16, n, dst); return;
    default: break;
    }
#endif
    widen_baseline(src, bf16, n, dst);
}

double mg_read_sum_f32(const float *x, size_t n) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: return read_sum_avx512(x, n);
    case 1: return read_sum_avx2(x, n);
    default: break;
    }
#endif
    return read_sum_baseline(x, n);
}
