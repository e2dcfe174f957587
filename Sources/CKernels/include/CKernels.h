// CKernels — hot loops (GELU, depthwise convolution, softmax's max and exp, 16-bit weight products) that need wider vectors than Swift's baseline target (SSE2)
// allows: each is compiled twice, for the baseline and for AVX2 + FMA, and picks the second at run time where the
// CPU has it.
#ifndef MGLLAVA_CKERNELS_H
#define MGLLAVA_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// y[i] = x[i]·Φ(x[i]), exact GELU (PyTorch approximate='none'); Φ from an erfc fit with relative error < 1.2e-7.
void mg_gelu_f32(const float *x, float *y, size_t n);

/// dx[i] = g[i]·(Φ(x[i]) + x[i]·φ(x[i])), the exact GELU's backward.
void mg_gelu_backward_f32(const float *g, const float *x, float *dx, size_t n);

/// out[i] = silu(gate[i])·up[i], the LLaMA MLP's gate (silu.c): bit for bit MGTensor's `gate.silu() * up`.
void mg_silu_mul_f32(const float *gate, const float *up, float *out, size_t n);

/// Its backward for upstream gradient g: dgate[i] = g·up·silu'(gate), dup[i] = g·silu(gate), bit for bit the unfused
/// composition's; either output may be NULL (not needed).
void mg_silu_mul_backward_f32(const float *gate, const float *up, const float *g, float *dgate, float *dup,
                              size_t n);

/// One plane of a stride-1 depthwise convolution: dst[oy][ox] = bias + Σ_{ky,kx} k[ky][kx]·src[oy−pad_h+ky][ox−pad_w+kx]
/// (zero outside src), summed bias first and then in (ky, kx) order; dst is oh × ow with oh = h + 2·pad_h − kh + 1.
/// Returns 0, or −1 when the padded scratch plane cannot be allocated (dst is then untouched).
int mg_depthwise_plane_f32(const float *src, int h, int w, const float *k, int kh, int kw, int pad_h, int pad_w,
                            float bias, float *dst, int oh, int ow);

/// The largest of x[0..<n] (−∞ when n = 0; NaN-free input).
float mg_max_f32(const float *x, size_t n);

/// x[i] ← exp(x[i] − m) in place, bit for bit MGTensor's `fastExp` (no fused multiply-adds): softmax's exp pass.
void mg_exp_shifted_f32(float *x, size_t n, float m);

/// scores[j] = scale·Σ_i q[i]·k[j·ldk + i] for j < s (i < d): one query row against s cached key rows.
void mg_attention_scores_f32(const float *q, const float *k, size_t ldk, size_t s, size_t d, float scale,
                             float *scores);

/// out[i] = Σ_j p[j]·v[j·ldv + i] for i < dv (j < s): one row of attention weights over s cached value rows.
void mg_attention_values_f32(const float *p, const float *v, size_t ldv, size_t s, size_t dv, float *out);

/// 1 when the AVX2 + FMA versions run on this CPU (for benchmarks and notes).
int mg_kernels_use_avx2(void);

// ---- 16-bit weights kept as stored (half.c, bf16dot.c) --------------------------------------------------------
// w is a row-major [n, k] matrix of bf16 (bf16 ≠ 0) or IEEE f16 values; each kernel runs its AVX-512 (F, BW, VL),
// AVX2 + FMA + F16C or baseline version, whichever this CPU has (at most the limit set below).

/// y[r·ldy + row] (+)= Σ_j x[r·ldx + j]·w[row·k + j] for row in [row_begin, row_end) and r < m (accumulate ≠ 0 adds
/// to y): each weight row is read once for all m rows — decoding, where the weights' bytes are the whole cost.
void mg_half_rows_dot(const uint16_t *w, int bf16, size_t k, const float *x, size_t m, size_t ldx,
                      size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate);

/// As mg_half_rows_dot with the prompt rows already rounded to f16 (xh, from mg_f16_round): llama.cpp's F16
/// decoding, whose activation bytes stay in L1 beside the weight stream (halfdot.c).
void mg_half_rows_dot_f16x(const uint16_t *w, int bf16, size_t k, const uint16_t *xh, size_t m, size_t ldx,
                           size_t row_begin, size_t row_end, float *y, size_t ldy, int accumulate);

/// xh[i] = x[i] rounded to IEEE half (nearest even; ±∞ from 65520 up), i < n.
void mg_f16_round(const float *x, size_t n, uint16_t *xh);

/// y[r·ldy + row] (+)= Σ_j x[r·k + j]·w[row·k + j] for row in [n_begin, n_end) and r < m: prefill with 16-bit weights
/// in 5 × 5 register tiles, widening in registers (halfgemm.c). AVX-512 only (see mg_half_gemm_available); elsewhere a
/// plain reference loop.
void mg_half_gemm(const float *x, size_t m, size_t k, const uint16_t *w, int bf16, size_t n_begin, size_t n_end,
                  float *y, size_t ldy, int accumulate);

/// 1 when mg_half_gemm runs its AVX-512 tiles (the vector level is 2).
int mg_half_gemm_available(void);

/// dst[i] = src[i] widened to float32 (exact), i < n.
void mg_half_widen(const uint16_t *src, int bf16, size_t n, float *dst);

/// Σ x[i] with several vector accumulators: a streaming read, for measuring the read bandwidth decoding is bound by.
double mg_read_sum_f32(const float *x, size_t n);

/// The vector level the 16-bit kernels run: 2 AVX-512, 1 AVX2 + FMA + F16C, 0 baseline.
int mg_vector_level(void);

/// Caps the level (tests run the AVX2 and baseline versions on a CPU that has more; 2 restores the default).
void mg_limit_vector_level(int level);

/// 1 when this CPU has AVX512-BF16 (and the level is not capped below AVX-512): mg_bf16_dot_rows uses `vdpbf16ps`.
int mg_kernels_have_bf16_dot(void);

/// Rounds float32 rows x [m, k] to bf16 for mg_bf16_dot_rows: `terms` = 1 writes each row rounded to nearest even;
/// `terms` = 2 writes it and then the rounding remainder (x − hi, rounded) as the next row — 16 significant bits.
void mg_bf16_split(const float *x, size_t m, size_t k, size_t terms, uint16_t *xb);

/// y[r·ldy + n] (+)= Σ_t Σ_j xb[(r·terms + t)·k + j]·w[n·k + j] for n in [n_begin, n_end), r < m, with bf16 weights:
/// `vdpbf16ps` tiles of 4 × 4 rows straight from the stored rows (float32 sums; scalar where the CPU lacks it).
void mg_bf16_dot_rows(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w, size_t n_begin,
                      size_t n_end, float *y, size_t ldy, int accumulate);

/// The same sums for a few prompt rows (decoding): one weight row at a time, read once for all m rows (a single
/// sequential stream per core), each result summed the same way whatever m is.
void mg_bf16_rows_dot(const uint16_t *xb, size_t terms, size_t m, size_t k, const uint16_t *w, size_t row_begin,
                      size_t row_end, float *y, size_t ldy, int accumulate);

// ---- ggml block-quantized weights (quants.c) ----------------------------------------------------------------------
// `type` is ggml's type id (GGML_TYPE_*: Q5_0 6, Q8_0 8, Q4_K 12, Q6_K 14, Q8_K 15). Blocks are byte for byte ggml's.
// The dot products run their AVX512-VNNI, AVX2 or baseline version, whichever this CPU has (at most the level set by
// mg_quant_limit_level).

/// Quantizes n values (whole blocks) as ggml's reference quantizer for `type` (quantize_row_*_ref), bit for bit.
void mg_quantize(int type, const float *x, void *out, size_t n);

/// Dequantizes n values (whole blocks) as ggml's dequantize_row_* for `type`.
void mg_dequantize(int type, const void *blocks, float *y, size_t n);

/// The activation format a weight of `type` is multiplied with: Q8_0 for Q8_0 and Q5_0, Q8_K for Q4_K and Q6_K.
int mg_quant_activation_type(int type);

/// Bytes of one row of k values in `type` (k a multiple of its block size).
size_t mg_quant_row_bytes(int type, size_t k);

/// Quantizes one activation row of k values to `activation_type` (Q8_0 or Q8_K, as ggml's from_float).
void mg_quantize_activation(int activation_type, const float *x, void *out, size_t k);

/// y[r·ldy + row] = Σ_j w[row, j]·a[r, j] for row in [row_begin, row_end), r < m: weight rows of `type` ([N, k])
/// against m activation rows already quantized to its activation format, each block's products summed in integers
/// and scaled as ggml's vec_dot does. m > 1 runs as tiles of several weight rows × several activation rows.
void mg_quant_rows_dot(int type, const void *w, size_t k, const void *a_rows, size_t m, size_t row_begin,
                       size_t row_end, float *y, size_t ldy);

/// The level the quantized kernels run: 2 AVX512-VNNI, 1 AVX2 + FMA, 0 baseline.
int mg_quant_level(void);

/// Caps that level (tests run the lower versions on a CPU that has more; 2 restores the default).
void mg_quant_limit_level(int level);

#endif
