/*
 * quants.h - ggml-compatible block quantization for mgllava.
 *
 * Block layouts are byte-identical to ggml's (little-endian):
 *   Q8_0  32 values,  34 bytes: f16 d, int8 qs[32]
 *   Q5_0  32 values,  22 bytes: f16 d, u8 qh[4], u8 qs[16]
 *   Q4_K 256 values, 144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128]
 *   Q6_K 256 values, 210 bytes: u8 ql[128], u8 qh[64], i8 scales[16], f16 d
 *   Q8_K 256 values, 292 bytes: f32 d, i8 qs[256], i16 bsums[16]  (activations only)
 * Block pointers must be 2-byte aligned (Q8_K: 4-byte aligned).
 * n / k always count values and must be a multiple of the format's block size.
 */
#ifndef MG_QUANTS_H
#define MG_QUANTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Type ids, numerically equal to ggml's GGML_TYPE_* (and so to GGUF tensor types). */
enum mg_quant_type {
    MG_TYPE_F32  = 0,
    MG_TYPE_F16  = 1,
    MG_TYPE_Q5_0 = 6,
    MG_TYPE_Q8_0 = 8,
    MG_TYPE_Q4_K = 12,
    MG_TYPE_Q6_K = 14,
    MG_TYPE_Q8_K = 15,
    MG_TYPE_BF16 = 30,
};

/* Values per block (1 for F32/F16/BF16); 0 for an unknown type. */
size_t mg_quant_block_size(int type);
/* Bytes per block; 0 for an unknown type. */
size_t mg_quant_block_bytes(int type);
/* Bytes of a row of n values (n a multiple of the block size); 0 for an unknown type. */
size_t mg_quant_row_bytes(int type, size_t n);
/* Activation format a weight type is multiplied with: Q8_0 for Q8_0/Q5_0, Q8_K for Q4_K/Q6_K, else -1. */
int mg_quant_activation_type(int type);

/* IEEE half <-> float, round to nearest even; identical to ggml's reference conversions. */
uint16_t mg_fp32_to_fp16(float f);
float mg_fp16_to_fp32(uint16_t h);

/* Weight quantizers: bit-identical to ggml's quantize_row_*_ref (no importance matrix). */
void mg_quantize_q8_0(const float *x, void *out, size_t n);
void mg_quantize_q5_0(const float *x, void *out, size_t n);
void mg_quantize_q4_k(const float *x, void *out, size_t n);
void mg_quantize_q6_k(const float *x, void *out, size_t n);

/* Dequantizers: bit-identical to ggml's dequantize_row_*. */
void mg_dequantize_q8_0(const void *blocks, float *y, size_t n);
void mg_dequantize_q5_0(const void *blocks, float *y, size_t n);
void mg_dequantize_q4_k(const void *blocks, float *y, size_t n);
void mg_dequantize_q6_k(const void *blocks, float *y, size_t n);

/* Activation quantizers: the bytes of ggml's quantize_row_q8_0_ref / quantize_row_q8_K_ref
 * (vectorized at level >= 1; blocks with inf/NaN/subnormal scales take the scalar path). */
void mg_quantize_row_q8_0_act(const float *x, void *out, size_t n);
void mg_quantize_row_q8_k(const float *x, void *out, size_t n);

/* Dot product of one weight row with one activation row, like ggml's vec_dot. */
float mg_dot_q8_0_q8_0(const void *w, const void *a, size_t n);
float mg_dot_q5_0_q8_0(const void *w, const void *a, size_t n);
float mg_dot_q4_k_q8_k(const void *w, const void *a, size_t n);
float mg_dot_q6_k_q8_k(const void *w, const void *a, size_t n);

/*
 * y[r*ldy + row] = dot(weight row `row`, activation row r) for r < m and row in [row_begin, row_end).
 * w: the whole weight matrix (rows of k values, type Q8_0/Q5_0/Q4_K/Q6_K);
 * a_rows: m activation rows of k values already quantized to mg_quant_activation_type(type),
 * packed back to back. Disjoint row ranges may run concurrently on different threads.
 * Unknown types are ignored (y untouched).
 */
void mg_quant_rows_dot(int type, const void *w, size_t k, const void *a_rows, size_t m,
                       size_t row_begin, size_t row_end, float *y, size_t ldy);

/* By type id (the forms CKernels.h declares): */
/* mg_quantize_q8_0/q5_0/q4_k/q6_k, or mg_quantize_row_q8_k for Q8_K; other types are ignored. */
void mg_quantize(int type, const float *x, void *out, size_t n);
/* mg_dequantize_* for Q8_0/Q5_0/Q4_K/Q6_K, and Q8_K as ggml's dequantize_row_q8_K; other types are ignored. */
void mg_dequantize(int type, const void *blocks, float *y, size_t n);
/* One activation row to MG_TYPE_Q8_0 or MG_TYPE_Q8_K (the mg_quantize_row_* above). */
void mg_quantize_activation(int activation_type, const float *x, void *out, size_t k);

/* SIMD level in use: 2 = AVX512-VNNI, 1 = AVX2+FMA, 0 = portable scalar. */
int mg_quant_level(void);
/* Cap the level (tests run lower levels on a CPU that has more); 2 or a negative value restores the detected level. */
void mg_quant_limit_level(int max_level);

#ifdef __cplusplus
}
#endif

#endif /* MG_QUANTS_H */
