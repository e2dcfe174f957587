// Exact GELU forward and backward (see CKernels.h). Branch-free scalar code that clang's loop vectoriser turns into
// 4-wide SSE2 or 8-wide AVX2 + FMA loops.
#include "CKernels.h"
#include "scalar.h"

#include <stdint.h>
#include <string.h>

static const float sqrt_half = 0.70710678118654752440f;
static const float inv_sqrt_2pi = 0.39894228040143267794f;

// Φ(v) = ½·erfc(−v/√2): erfc(|z|) is the Numerical Recipes Chebyshev fit t·exp(−z² + P(t)), t = 1/(1 + |z|/2),
// fractional error < 1.2e-7; taking Φ from erfc (not 1 + erf) keeps the negative tail relatively accurate.
static inline float normal_cdf(float v) {
    float a = bits_float(float_bits(v) & 0x7FFFFFFFu) * sqrt_half;
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float half_erfc = 0.5f * t * fast_exp(-a * a + p);
    return v >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

#define DEFINE_GELU(suffix, attributes)                                                                       \
    attributes static void gelu_##suffix(const float *x, float *y, size_t n) {                                \
        for (size_t i = 0; i < n; i++) y[i] = x[i] * normal_cdf(x[i]);                                         \
    }                                                                                                         \
    attributes static void gelu_backward_##suffix(const float *g, const float *x, float *dx, size_t n) {      \
        for (size_t i = 0; i < n; i++) {                                                                      \
            float v = x[i];                                                                                   \
            dx[i] = g[i] * (normal_cdf(v) + v * inv_sqrt_2pi * fast_exp(-0.5f * v * v));                       \
        }                                                                                                     \
    }

DEFINE_GELU(baseline, )
#if defined(__x86_64__)
DEFINE_GELU(avx2, __attribute__((target("avx2,fma"))))
#endif

int mg_kernels_use_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
#else
    return 0;
#endif
}

void mg_gelu_f32(const float *x, float *y, size_t n) {
#if defined(__x86_64__)
    if (mg_kernels_use_avx2()) { gelu_avx2(x, y, n); return; }
#endif
    gelu_baseline(x, y, n);
}

void mg_gelu_backward_f32(const float *g, const float *x, float *dx, size_t n) {
#if defined(__x86_64__)
    if (mg_kernels_use_avx2()) { gelu_backward_avx2(g, x, dx, n); return; }
#endif
    gelu_backward_baseline(g, x, dx, n);
}
