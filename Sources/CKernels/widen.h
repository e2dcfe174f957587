// Vector helpers shared by the 16-bit weight kernels (half.c, halfdot.c; private to CKernels): the target
// attributes, widening 8 / 16 / 32 stored bf16 or f16 values to float32, and an 8-lane horizontal sum. Static
// inline, so each kernel file compiles them for its own targets.
#ifndef MGLLAVA_CKERNELS_WIDEN_H
#define MGLLAVA_CKERNELS_WIDEN_H

#include "scalar.h"

#include <stddef.h>
#include <stdint.h>

static inline float widen_one(const uint16_t *w, size_t i, int bf16) {
    return bf16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i]);
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2_ATTR __attribute__((target("avx2,fma,f16c")))

AVX2_ATTR static inline __m256 widen8_avx2(const uint16_t *p, int bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

AVX2_ATTR static inline float hsum8_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define AVX512_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

AVX512_ATTR static inline __m512 widen16_avx512(const uint16_t *p, int bf16) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

// 32 weights from one 64-byte load, widened in two halves: one wide load per 32 weights streamed f16 rows at the
// read bandwidth where two 32-byte loads fed to vcvtph2ps measured 0.7-0.8 of it (two cores, Zen 4).
AVX512_ATTR static inline void widen32_avx512(const uint16_t *p, int bf16, __m512 *lo, __m512 *hi) {
    __m512i h = _mm512_loadu_si512((const void *)p);
    __m256i h0 = _mm512_castsi512_si256(h), h1 = _mm512_extracti64x4_epi64(h, 1);
    if (bf16) {
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h0), 16));
        *hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
    } else {
        *lo = _mm512_cvtph_ps(h0);
        *hi = _mm512_cvtph_ps(h1);
    }
}

#endif  // __x86_64__

#endif
