// The LLaMA MLP's gate, silu(gate) ⊙ up, forward and backward in one pass each (see CKernels.h). The arithmetic is
// MGTensor's unfused composition operation for operation — silu(v) = v / (1 + fastExp(−v)), then × up; backward
// g·up, then ((g·up)·s)·(1 + v·(1 − s)) with s = 1 / (1 + fastExp(−v)), and g·silu(v) — with no fused multiply-adds,
// so fusing changes no bit of a training run. Branch-free scalar code that clang vectorises for each target.
#include "CKernels.h"
#include "scalar.h"

#include <stddef.h>

#pragma clang fp contract(off)

static inline float sigmoid(float v) { return 1.0f / (1.0f + fast_exp(-v)); }

#define DEFINE_SILU_MUL(suffix, attributes)                                                                    \
    attributes static void silu_mul_##suffix(const float *gate, const float *up, float *out, size_t n) {      \
        for (size_t i = 0; i < n; i++) {                                                                      \
            float v = gate[i];                                                                                \
            float silu = v / (1.0f + fast_exp(-v));                                                           \
            out[i] = silu * up[i];                                                                            \
        }                                                                                                     \
    }                                                                                                         \
    attributes static void silu_mul_backward_##suffix(const float *gate, const float *up, const float *g,     \
                                                      float *dgate, float *dup, size_t n) {                   \
        if (dup && dgate) {                                                                                   \
            for (size_t i = 0; i < n; i++) {                                                                  \
                float v = gate[i], d = 1.0f + fast_exp(-v);                                                   \
                float s = 1.0f / d, gs = g[i] * up[i];                                                        \
                dup[i] = g[i] * (v / d);                                                                      \
                dgate[i] = gs * s * (1.0f + v * (1.0f - s));                                                  \
            }                                                                                                 \
        } else if (dgate) {                                                                                   \
            for (size_t i = 0; i < n; i++) {                                                                  \
                float v = gate[i], s = sigmoid(v), gs = g[i] * up[i];                                         \
                dgate[i] = gs * s * (1.0f + v * (1.0f - s));                                                  \
            }                                                                                                 \
        } else if (dup) {                                                                                     \
            for (size_t i = 0; i < n; i++) {                                                                  \
                float v = gate[i];                                                                            \
                dup[i] = g[i] * (v / (1.0f + fast_exp(-v)));                                                  \
            }                                                                                                 \
        }                                                                                                     \
    }

DEFINE_SILU_MUL(baseline, )
#if defined(__x86_64__)
DEFINE_SILU_MUL(avx2, __attribute__((target("avx2,fma"))))
DEFINE_SILU_MUL(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))))
#endif

void mg_silu_mul_f32(const float *gate, const float *up, float *out, size_t n) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: silu_mul_avx512(gate, up, out, n); return;
    case 1: silu_mul_avx2(gate, up, out, n); return;
    default: break;
    }
#endif
    silu_mul_baseline(gate, up, out, n);
}

void mg_silu_mul_backward_f32(const float *gate, const float *up, const float *g, float *dgate, float *dup,
                              size_t n) {
#if defined(__x86_64__)
    switch (mg_vector_level()) {
    case 2: silu_mul_backward_avx512(gate, up, g, dgate, dup, n); return;
    case 1: silu_mul_backward_avx2(gate, up, g, dgate, dup, n); return;
    default: break;
    }
#endif
    silu_mul_backward_baseline(gate, up, g, dgate, dup, n);
}
