// Stride-1 depthwise convolution of one plane (see CKernels.h). The plane is first copied into a zero-padded
// buffer, so that every output column takes the same branch-free path: blocks of 8 columns held in registers
// across all the kernel's taps (one load and one multiply-add per tap and lane), instead of sweeping the output
// once per tap.
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 8

#define DEFINE_DEPTHWISE(suffix, attributes)                                                                   \
    attributes static void depthwise_##suffix(const float *padded, int pw, const float *k, int kh, int kw,      \
                                              float bias, float *dst, int oh, int ow) {                         \
        for (int oy = 0; oy < oh; oy++) {                                                                       \
            float *drow = dst + (size_t)oy * ow;                                                                \
            int ox = 0;                                                                                         \
            for (; ox + BLOCK <= ow; ox += BLOCK) {                                                             \
                float acc[BLOCK];                                                                               \
                for (int l = 0; l < BLOCK; l++) acc[l] = bias;                                                  \
                for (int ky = 0; ky < kh; ky++) {                                                               \
                    const float *s = padded + (size_t)(oy + ky) * pw + ox;                                      \
                    for (int kx = 0; kx < kw; kx++) {                                                           \
                        float wv = k[ky * kw + kx];                                                             \
                        for (int l = 0; l < BLOCK; l++) acc[l] += wv * s[kx + l];                               \
                    }                                                                                           \
                }                                                                                               \
                for (int l = 0; l < BLOCK; l++) drow[ox + l] = acc[l];                                          \
            }                                                                                                   \
            for (; ox < ow; ox++) {                                                                             \
                float acc = bias;                                                                               \
                for (int ky = 0; ky < kh; ky++) {                                                               \
                    const float *s = padded + (size_t)(oy + ky) * pw + ox;                                      \
                    for (int kx = 0; kx < kw; kx++) acc += k[ky * kw + kx] * s[kx];                             \
                }                                                                                               \
                drow[ox] = acc;                                                                                 \
            }                                                                                                   \
        }                                                                                                       \
    }

DEFINE_DEPTHWISE(baseline, )
#if defined(__x86_64__)
DEFINE_DEPTHWISE(avx2, __attribute__((target("avx2,fma"))))
#endif

int mg_depthwise_plane_f32(const float *src, int h, int w, const float *k, int kh, int kw, int pad_h, int pad_w,
                           float bias, float *dst, int oh, int ow) {
    int ph = h + 2 * pad_h, pw = w + 2 * pad_w;
    float *padded = calloc((size_t)ph * pw, sizeof(float));
    if (!padded) return -1;
    for (int y = 0; y < h; y++) memcpy(padded + (size_t)(y + pad_h) * pw + pad_w, src + (size_t)y * w, (size_t)w * sizeof(float));
#if defined(__x86_64__)
    if (mg_kernels_use_avx2()) {
        depthwise_avx2(padded, pw, k, kh, kw, bias, dst, oh, ow);
        free(padded);
        return 0;
    }
#endif
    depthwise_baseline(padded, pw, k, kh, kw, bias, dst, oh, ow);
    free(padded);
    return 0;
}
