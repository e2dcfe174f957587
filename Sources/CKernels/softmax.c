// The softmax row pieces of attention (see CKernels.h): the maximum, and exp(x − m) in place. Long rows (OWLv2's
// 3,601–5,185 keys) spend most of their non-GEMM time here, and Swift's SSE2 baseline runs them 4 wide.
#include "CKernels.h"
#include "scalar.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

// No fused multiply-adds: the result must equal MGTensor's `fastExp` bit for bit (training and inference share
// attention, and their numbers must not depend on which CPU ran them).
#pragma clang fp contract(off)

#define DEFINE_SOFTMAX_PIECES(suffix, attributes)                                                             \
    attributes static float max_##suffix(const float *x, size_t n) {                                          \
        float lanes[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY,        \
                          -INFINITY};                                                                         \
        size_t i = 0;                                                                                         \
        for (; i + 8 <= n; i += 8)                                                                            \
            for (int k = 0; k < 8; k++) lanes[k] = x[i + k] > lanes[k] ? x[i + k] : lanes[k];                 \
        float m = lanes[0];                                                                                   \
        for (int k = 1; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;                                          \
        for (; i < n; i++) m = x[i] > m ? x[i] : m;                                                           \
        return m;                                                                                             \
    }                                                                                                         \
    attributes static void exp_shifted_##suffix(float *x, size_t n, float m) {                                \
        for (size_t i = 0; i < n; i++) x[i] = fast_exp(x[i] - m);                                       \
    }

DEFINE_SOFTMAX_PIECES(baseline, )
#if defined(__x86_64__)
DEFINE_SOFTMAX_PIECES(avx2, __attribute__((target("avx2,fma"))))
#endif

float mg_max_f32(const float *x, size_t n) {
#if defined(__x86_64__)
    if (mg_kernels_use_avx2()) return max_avx2(x, n);
#endif
    return max_baseline(x, n);
}

void mg_exp_shifted_f32(float *x, size_t n, float m) {
#if defined(__x86_64__)
    if (mg_kernels_use_avx2()) { exp_shifted_avx2(x, n, m); return; }
#endif
    exp_shifted_baseline(x, n, m);
}
