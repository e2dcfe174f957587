// attention.c — one query row against a key/value cache (decoding): the two products that OpenBLAS's gemv runs
// at well under the memory bandwidth for these short rows (a head's key row is 64–128 floats). Each kernel reads
// the cache once, row by row, with 16 independent lane sums per row, so every CPU level computes the same sums in
// the same order (only fused multiply-adds differ).
#include "CKernels.h"

#define LANES 16

#define DEFINE_ATTENTION(suffix, attr)                                                                            \
    attr static void scores_##suffix(const float *q, const float *k, size_t ldk, size_t s, size_t d, float scale, \
                                     float *out) {                                                                \
        for (size_t j = 0; j < s; j++) {                                                                          \
            const float *kr = k + j * ldk;                                                                        \
            float acc[LANES] = {0};                                                                               \
            size_t i = 0;                                                                                         \
            for (; i + LANES <= d; i += LANES)                                                                    \
                for (int l = 0; l < LANES; l++) acc[l] += q[i + l] * kr[i + l];                                   \
            for (int l = 0; i + (size_t)l < d; l++) acc[l] += q[i + l] * kr[i + l];                               \
            for (int w = LANES / 2; w > 0; w /= 2)                                                                \
                for (int l = 0; l < w; l++) acc[l] += acc[l + w];                                                 \
            out[j] = scale * acc[0];                                                                              \
        }                                                                                                         \
    }                                                                                                             \
    attr static void values_##suffix(const float *p, const float *v, size_t ldv, size_t s, size_t dv,            \
                                     float *out) {                                                                \
        for (size_t c = 0; c < dv; c += 4 * LANES) {                                                              \
            const size_t n = dv - c < 4 * LANES ? dv - c : 4 * LANES;                                             \
            float acc[4 * LANES] = {0};                                                                           \
            if (n == 4 * LANES) {                                                                                 \
                for (size_t j = 0; j < s; j++)                                                                    \
                    for (int l = 0; l < 4 * LANES; l++) acc[l] += p[j] * v[j * ldv + c + l];                      \
            } else {                                                                                              \
                for (size_t j = 0; j < s; j++)                                                                    \
                    for (size_t l = 0; l < n; l++) acc[l] += p[j] * v[j * ldv + c + l];                           \
            }                                                                                                     \
            for (size_t l = 0; l < n; l++) out[c + l] = acc[l];                                                   \
        }                                                                                                         \
    }

DEFINE_ATTENTION(baseline, )
#if defined(__x86_64__)
DEFINE_ATTENTION(avx2, __attribute__((target("avx2,fma"))))
DEFINE_ATTENTION(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))))

#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))

// d a multiple of 16: four key rows at a time, each with its own accumulator, so four loads are in flight.
AVX512 static void scores_avx512_16(const float *q, const float *k, size_t ldk, size_t s, size_t d, float scale,
                                    float *out) {
    size_t j = 0;
    for (; j + 4 <= s; j += 4) {
        const float *k0 = k + j * ldk;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < d; i += 16) {
            const __m512 qv = _mm512_loadu_ps(q + i);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + i), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + ldk + i), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + 2 * ldk + i), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + 3 * ldk + i), a3);
        }
        out[j] = scale * _mm512_reduce_add_ps(a0);
        out[j + 1] = scale * _mm512_reduce_add_ps(a1);
        out[j + 2] = scale * _mm512_reduce_add_ps(a2);
        out[j + 3] = scale * _mm512_reduce_add_ps(a3);
    }
    for (; j < s; j++) {
        __m512 a0 = _mm512_setzero_ps();
        for (size_t i = 0; i < d; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + j * ldk + i), a0);
        out[j] = scale * _mm512_reduce_add_ps(a0);
    }
}

// dv a multiple of 16: up to 128 outputs in eight registers while the value rows stream past.
AVX512 static void values_avx512_16(const float *p, const float *v, size_t ldv, size_t s, size_t dv, float *out) {
    for (size_t c = 0; c < dv; c += 128) {
        const int n = (int)((dv - c < 128 ? dv - c : 128) / 16);
        __m512 acc[8];
        for (int t = 0; t < 8; t++) acc[t] = _mm512_setzero_ps();
        if (n == 8) {
            for (size_t j = 0; j < s; j++) {
                const __m512 pj = _mm512_set1_ps(p[j]);
                const float *vr = v + j * ldv + c;
                for (int t = 0; t < 8; t++) acc[t] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vr + 16 * t), acc[t]);
            }
        } else {
            for (size_t j = 0; j < s; j++) {
                const __m512 pj = _mm512_set1_ps(p[j]);
                const float *vr = v + j * ldv + c;
                for (int t = 0; t < n; t++) acc[t] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vr + 16 * t), acc[t]);
            }
        }
        for (int t = 0; t < n; t++) _mm512_storeu_ps(out + c + 16 * t, acc[t]);
    }
}

static int use_avx512(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    return cached;
}
#endif

void mg_attention_scores_f32(const float *q, const float *k, size_t ldk, size_t s, size_t d, float scale,
                             float *scores) {
#if defined(__x86_64__)
    if (use_avx512()) {
        if (d % 16 == 0) scores_avx512_16(q, k, ldk, s, d, scale, scores);
        else scores_avx512(q, k, ldk, s, d, scale, scores);
        return;
    }
    if (mg_kernels_use_avx2()) { scores_avx2(q, k, ldk, s, d, scale, scores); return; }
#endif
    scores_baseline(q, k, ldk, s, d, scale, scores);
}

void mg_attention_values_f32(const float *p, const float *v, size_t ldv, size_t s, size_t dv, float *out) {
#if defined(__x86_64__)
    if (use_avx512()) {
        if (dv % 16 == 0) values_avx512_16(p, v, ldv, s, dv, out);
        else values_avx512(p, v, ldv, s, dv, out);
        return;
    }
    if (mg_kernels_use_avx2()) { values_avx2(p, v, ldv, s, dv, out); return; }
#endif
    values_baseline(p, v, ldv, s, dv, out);
}
