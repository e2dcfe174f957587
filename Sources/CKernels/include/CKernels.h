// CKernels — hot loops (GELU, depthwise convolution, softmax's max and exp) that need wider vectors than Swift's baseline target (SSE2)
// allows: each is compiled twice, for the baseline and for AVX2 + FMA, and picks the second at run time where the
// CPU has it.
#ifndef MGLLAVA_CKERNELS_H
#define MGLLAVA_CKERNELS_H

#include <stddef.h>

/// y[i] = x[i]·Φ(x[i]), exact GELU (PyTorch approximate='none'); Φ from an erfc fit with relative error < 1.2e-7.
void mg_gelu_f32(const float *x, float *y, size_t n);

/// dx[i] = g[i]·(Φ(x[i]) + x[i]·φ(x[i])), the exact GELU's backward.
void mg_gelu_backward_f32(const float *g, const float *x, float *dx, size_t n);

/// One plane of a stride-1 depthwise convolution: dst[oy][ox] = bias + Σ_{ky,kx} k[ky][kx]·src[oy−pad_h+ky][ox−pad_w+kx]
/// (zero outside src), summed bias first and then in (ky, kx) order; dst is oh × ow with oh = h + 2·pad_h − kh + 1.
/// Returns 0, or −1 when the padded scratch plane cannot be allocated (dst is then untouched).
int mg_depthwise_plane_f32(const float *src, int h, int w, const float *k, int kh, int kw, int pad_h, int pad_w,
                            float bias, float *dst, int oh, int ow);

/// The largest of x[0..<n] (−∞ when n = 0; NaN-free input).
float mg_max_f32(const float *x, size_t n);

/// x[i] ← exp(x[i] − m) in place, bit for bit MGTensor's `fastExp` (no fused multiply-adds): softmax's exp pass.
void mg_exp_shifted_f32(float *x, size_t n, float m);

/// 1 when the AVX2 + FMA versions run on this CPU (for benchmarks and notes).
int mg_kernels_use_avx2(void);

#endif
