/*
 * quants.c - ggml-compatible block quantization (Q8_0, Q5_0, Q4_K, Q6_K, Q8_K).
 *
 * The quantizers reproduce ggml's reference quantizers bit for bit, so every
 * float operation below is written in the order ggml evaluates it and floating
 * point contraction is disabled (a fused multiply-add rounds once instead of
 * twice and would change the chosen levels).  Do not build with -ffast-math.
 *
 * Dot products run at one of three levels chosen at run time: portable scalar,
 * AVX2+FMA and AVX512-VNNI.  All levels compute the same exact integer partial
 * sums; they differ only in the order the per-block float terms are added.
 * mg_quant_rows_dot runs small weight x activation tiles, or at AVX512-VNNI
 * with GEMM_MIN_M or more activation rows (a prompt) a panel-decoding int8
 * GEMM (see "GEMM for prefill"), and with fewer rows (decode) a K-quant GEMV
 * per activation row (see "GEMV for decode").
 */
#include "quants.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define MG_X86 1
#include <immintrin.h>
#else
#define MG_X86 0
#endif

/* ------------------------------------------------------------------------- */
/* Block layouts                                                             */
/* ------------------------------------------------------------------------- */

enum { QB = 32, QKB = 256 }; /* values per Q8_0/Q5_0 block, per K-quant super-block */

typedef struct { uint16_t d; int8_t qs[QB]; } blk_q8_0;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QB / 2]; } blk_q5_0;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QKB / 2]; } blk_q4_k;
typedef struct { uint8_t ql[QKB / 2]; uint8_t qh[QKB / 4]; int8_t scales[QKB / 16]; uint16_t d; } blk_q6_k;
typedef struct { float d; int8_t qs[QKB]; int16_t bsums[QKB / 16]; } blk_q8_k;

_Static_assert(sizeof(blk_q8_0) == 34, "Q8_0 block must match ggml");
_Static_assert(sizeof(blk_q5_0) == 22, "Q5_0 block must match ggml");
_Static_assert(sizeof(blk_q4_k) == 144, "Q4_K block must match ggml");
_Static_assert(sizeof(blk_q6_k) == 210, "Q6_K block must match ggml");
_Static_assert(sizeof(blk_q8_k) == 292, "Q8_K block must match ggml");

size_t mg_quant_block_size(int type) {
    switch (type) {
    case MG_TYPE_F32: case MG_TYPE_F16: case MG_TYPE_BF16: return 1;
    case MG_TYPE_Q8_0: case MG_TYPE_Q5_0: return QB;
    case MG_TYPE_Q4_K: case MG_TYPE_Q6_K: case MG_TYPE_Q8_K: return QKB;
    default: return 0;
    }
}

size_t mg_quant_block_bytes(int type) {
    switch (type) {
    case MG_TYPE_F32: return 4;
    case MG_TYPE_F16: case MG_TYPE_BF16: return 2;
    case MG_TYPE_Q8_0: return sizeof(blk_q8_0);
    case MG_TYPE_Q5_0: return sizeof(blk_q5_0);
    case MG_TYPE_Q4_K: return sizeof(blk_q4_k);
    case MG_TYPE_Q6_K: return sizeof(blk_q6_k);
    case MG_TYPE_Q8_K: return sizeof(blk_q8_k);
    default: return 0;
    }
}

size_t mg_quant_row_bytes(int type, size_t n) {
    size_t bs = mg_quant_block_size(type);
    return bs ? n / bs * mg_quant_block_bytes(type) : 0;
}

int mg_quant_activation_type(int type) {
    switch (type) {
    case MG_TYPE_Q8_0: case MG_TYPE_Q5_0: return MG_TYPE_Q8_0;
    case MG_TYPE_Q4_K: case MG_TYPE_Q6_K: return MG_TYPE_Q8_K;
    default: return -1;
    }
}

/* ------------------------------------------------------------------------- */
/* Half precision and rounding                                               */
/* ------------------------------------------------------------------------- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t mg_fp32_to_fp16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;   /* NaN -> quiet NaN, as ggml */
    if (a >= 0x477ff000u) return sign | 0x7c00u;  /* >= 65520 rounds to infinity */
    if (a >= 0x38800000u) {                       /* normal half */
        a -= 0x38000000u;                         /* exponent bias 127 -> 15 */
        a += 0x0fffu + ((a >> 13) & 1u);          /* round to nearest, ties to even */
        return sign | (uint16_t)(a >> 13);
    }
    if (a <= 0x33000000u) return sign;            /* <= 2^-25: ties round to zero */
    /* subnormal half: the value counted in units of 2^-24 */
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t sh = 126u - (a >> 23);         /* 14..24 */
    uint32_t q = m >> sh;
    const uint32_t rem = m & ((1u << sh) - 1u), half = 1u << (sh - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return sign | (uint16_t)q;
}

float mg_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return bits_f32(sign | 0x7f800000u | ((m ? m | 0x200u : 0u) << 13)); /* NaNs come out quiet, as in ggml */
    if (e != 0) return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
    const float v = (float)m * 0x1p-24f;          /* subnormal or zero: exact */
    return sign ? -v : v;
}

/* Round to nearest (ties to even) by adding 1.5*2^23: the integer then sits in
 * the low mantissa bits.  Only meaningful for |v| < 2^22, but deterministic
 * (and equal to ggml) outside that range too. */
static inline int round_magic(float v) {
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* float -> int8 the way ggml's x86 build does it (cvttss2si, keep the low
 * byte): out-of-range and NaN give INT32_MIN, whose low byte is 0.  A plain C
 * cast is undefined there and clang may saturate instead. */
static inline int8_t trunc_to_i8(float v) {
    const int32_t i = fabsf(v) < 2147483648.0f ? (int32_t)v : INT32_MIN;
    return (int8_t)(uint8_t)((uint32_t)i & 0xffu);
}

/* ------------------------------------------------------------------------- */
/* Q8_0                                                                      */
/* ------------------------------------------------------------------------- */

static void q8_0_block(const float *x, blk_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < QB; j++) {
        const float v = fabsf(x[j]);
        amax = amax > v ? amax : v;                /* same NaN behaviour as ggml's MAX */
    }
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = mg_fp32_to_fp16(d);
    for (int j = 0; j < QB; j++) y->qs[j] = trunc_to_i8(roundf(x[j] * id));
}

void mg_quantize_q8_0(const float *x, void *out, size_t n) {
    blk_q8_0 *y = out;
    for (size_t b = 0; b < n / QB; b++) q8_0_block(x + b * QB, &y[b]);
}

void mg_dequantize_q8_0(const void *blocks, float *y, size_t n) {
    const blk_q8_0 *b = blocks;
    for (size_t i = 0; i < n / QB; i++) {
        const float d = mg_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QB; j++) *y++ = b[i].qs[j] * d;
    }
}

/* ------------------------------------------------------------------------- */
/* Q5_0: 4 low bits in qs (element j low nibble, j+16 high nibble), bit 4 in qh */
/* ------------------------------------------------------------------------- */

void mg_quantize_q5_0(const float *x, void *out, size_t n) {
    blk_q5_0 *y = out;
    for (size_t b = 0; b < n / QB; b++, x += QB) {
        float amax = 0.0f, vmax = 0.0f;            /* signed value of largest magnitude */
        for (int j = 0; j < QB; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); vmax = x[j]; }
        }
        const float d = vmax / -16;                /* maps vmax to level 0 */
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = mg_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QB / 2; j++) {
            /* truncating cast after +16.5 rounds half up, as the reference does */
            const int l0 = clampi(trunc_to_i8(x[j] * id + 16.5f), -128, 31);
            const int l1 = clampi(trunc_to_i8(x[j + QB / 2] * id + 16.5f), -128, 31);
            y[b].qs[j] = (uint8_t)((l0 & 0x0F) | ((l1 & 0x0F) << 4));
            qh |= (uint32_t)((l0 >> 4) & 1) << j;
            qh |= (uint32_t)((l1 >> 4) & 1) << (j + QB / 2);
        }
        memcpy(y[b].qh, &qh, 4);
    }
}

/* Expand a Q5_0 block to signed values in [-16, 15]. */
static inline void q5_0_decode(const blk_q5_0 *b, int8_t v[QB]) {
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < QB / 2; j++) {
        v[j] = (int8_t)(((b->qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16);
        v[j + QB / 2] = (int8_t)(((b->qs[j] >> 4) | (((qh >> (j + QB / 2)) & 1u) << 4)) - 16);
    }
}

void mg_dequantize_q5_0(const void *blocks, float *y, size_t n) {
    const blk_q5_0 *b = blocks;
    int8_t v[QB];
    for (size_t i = 0; i < n / QB; i++, y += QB) {
        const float d = mg_fp16_to_fp32(b[i].d);
        q5_0_decode(&b[i], v);
        for (int j = 0; j < QB; j++) y[j] = v[j] * d;
    }
}

/* ------------------------------------------------------------------------- */
/* Level fitting for the K-quants                                            */
/* ------------------------------------------------------------------------- */

/* ggml's make_qkx2_quants(32, 15, x, w, L, &min, Laux, -1, 0.1, 20, false):
 * fit x ~ scale*L - min with L in [0,15] by weighted least squares, trying 21
 * candidate inverse scales and keeping the lowest weighted squared error.
 * Returns the scale and stores the (non-negative) offset in *neg_min. */
static float fit_affine_q4(const float *x, const float *w, uint8_t *L, float *neg_min) {
    enum { N = 32, NMAX = 15, NSTEP = 20 };
    float lo = x[0], hi = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < N; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(L, 0, N);
        *neg_min = -lo;
        return 0.0f;
    }
    float iscale = NMAX / (hi - lo);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < N; i++) {
        L[i] = (uint8_t)clampi(round_magic(iscale * (x[i] - lo)), 0, NMAX);
        const float diff = scale * L[i] + lo - x[i];
        best += w[i] * (diff * diff);
    }
    uint8_t cand[N];
    for (int is = 0; is <= NSTEP; is++) {
        iscale = (-1.0f + 0.1f * is + NMAX) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < N; i++) {
            const int l = clampi(round_magic(iscale * (x[i] - lo)), 0, NMAX);
            cand[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        const float det = sum_w * sl2 - sl * sl;
        if (!(det > 0)) continue;
        float s = (sum_w * sxl - sum_x * sl) / det;
        float m = (sl2 * sum_x - sl * sxl) / det;
        if (m > 0) { m = 0; s = sxl / sl2; }       /* offset must not be positive */
        float err = 0;
        for (int i = 0; i < N; i++) {
            const float diff = s * cand[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, cand, N);
            best = err;
            scale = s;
            lo = m;
        }
    }
    *neg_min = -lo;
    return scale;
}

/* ggml's make_qx_quants(16, 32, x, L, rmse_type 1, NULL): symmetric levels
 * L-32 in [-32,31], weights x^2, 19 candidate scales around -32/max.
 * Returns the scale; L gets the biased levels 0..63. */
static float fit_symmetric_q6(const float *x, int8_t *L) {
    enum { N = 16, NMAX = 32 };
    float amax = 0, vmax = 0;
    for (int i = 0; i < N; i++) {
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); vmax = x[i]; }
    }
    if (amax < 1e-15f) {                           /* ggml's GROUP_MAX_EPS */
        memset(L, 0, N);
        return 0.0f;
    }
    float iscale = -NMAX / vmax;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < N; i++) {
        const int l = clampi(round_magic(iscale * x[i]), -NMAX, NMAX - 1);
        L[i] = (int8_t)(l + NMAX);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(NMAX + 0.1f * is) / vmax;
        sumlx = suml2 = 0;
        for (int i = 0; i < N; i++) {
            const int l = clampi(round_magic(iscale * x[i]), -NMAX, NMAX - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < N; i++)
                L[i] = (int8_t)(NMAX + clampi(round_magic(iscale * x[i]), -NMAX, NMAX - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ------------------------------------------------------------------------- */
/* Q4_K: 8 sub-blocks of 32, 6-bit scales and mins packed into 12 bytes      */
/* ------------------------------------------------------------------------- */

/* Bytes 0-3: scales 0-3 (+ top bits of scales 4-7); bytes 4-7: mins 0-3
 * (+ top bits of mins 4-7); bytes 8-11: low nibbles of scale/min 4-7.
 * Unpacked 4 bytes at a time into words whose byte j is sub-block j's value
 * (little-endian), so SIMD code can move them straight into a register. */
static inline void q4_k_scales_u64(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    uint32_t a, b, c;
    memcpy(&a, s, 4);
    memcpy(&b, s + 4, 4);
    memcpy(&c, s + 8, 4);
    const uint32_t sc_hi = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t mn_hi = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    *sc = (a & 0x3f3f3f3fu) | ((uint64_t)sc_hi << 32);
    *mn = (b & 0x3f3f3f3fu) | ((uint64_t)mn_hi << 32);
}

static inline void q4_k_unpack_scales(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint64_t a, b;
    q4_k_scales_u64(s, &a, &b);
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(a >> (8 * j));
        mn[j] = (uint8_t)(b >> (8 * j));
    }
}

void mg_quantize_q4_k(const float *x, void *out, size_t n) {
    blk_q4_k *y = out;
    uint8_t L[QKB];
    float w[32], scales[8], mins[8];
    for (size_t b = 0; b < n / QKB; b++, x += QKB) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            const float *xs = x + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
            const float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
            scales[j] = fit_affine_q4(xs, w, L + 32 * j, &mins[j]);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        /* second level: scales and mins become 6-bit multiples of d and dmin */
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        uint8_t *s = y[b].scales;
        for (int j = 0; j < 8; j++) {
            uint8_t ls = (uint8_t)round_magic(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)round_magic(inv_min * mins[j]);
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
            if (j < 4) {
                s[j] = ls;
                s[j + 4] = lm;
            } else {
                s[j + 4] = (uint8_t)((ls & 0x0F) | ((lm & 0x0F) << 4));
                s[j - 4] |= (uint8_t)((ls >> 4) << 6);
                s[j] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        y[b].d = mg_fp32_to_fp16(max_scale / 63.f);
        y[b].dmin = mg_fp32_to_fp16(max_min / 63.f);
        /* requantize against the rounded scales; a zero scale keeps the fit's levels */
        uint8_t sc[8], mn[8];
        q4_k_unpack_scales(s, sc, mn);
        for (int j = 0; j < 8; j++) {
            const float d = mg_fp16_to_fp32(y[b].d) * sc[j];
            if (!d) continue;
            const float dm = mg_fp16_to_fp32(y[b].dmin) * mn[j];
            for (int l = 0; l < 32; l++)
                L[32 * j + l] = (uint8_t)clampi(round_magic((x[32 * j + l] + dm) / d), 0, 15);
        }
        /* each 64-value group: first 32 in the low nibbles, next 32 in the high ones */
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++)
                y[b].qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + 32 + l] << 4));
    }
}

void mg_dequantize_q4_k(const void *blocks, float *y, size_t n) {
    const blk_q4_k *b = blocks;
    for (size_t i = 0; i < n / QKB; i++) {
        const float d = mg_fp16_to_fp32(b[i].d), dmin = mg_fp16_to_fp32(b[i].dmin);
        uint8_t sc[8], mn[8];
        q4_k_unpack_scales(b[i].scales, sc, mn);
        for (int g = 0; g < 4; g++) {
            const uint8_t *q = b[i].qs + 32 * g;
            const float d1 = d * sc[2 * g], m1 = dmin * mn[2 * g];
            const float d2 = d * sc[2 * g + 1], m2 = dmin * mn[2 * g + 1];
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Q6_K: 16 sub-blocks of 16, int8 scales; 4 low bits in ql, 2 high in qh     */
/* Per 128 values: ql[l] low/high nibble -> l / l+64, ql[l+32] -> l+32 / l+96; */
/* qh[l] bit pairs 0..3 -> l, l+32, l+64, l+96.                              */
/* ------------------------------------------------------------------------- */

void mg_quantize_q6_k(const float *x, void *out, size_t n) {
    blk_q6_k *y = out;
    int8_t L[QKB];
    float scales[16];
    for (size_t b = 0; b < n / QKB; b++, x += QKB) {
        float max_scale = 0, max_abs = 0;
        for (int ib = 0; ib < 16; ib++) {
            scales[ib] = fit_symmetric_q6(x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs) { max_abs = fabsf(scales[ib]); max_scale = scales[ib]; }
        }
        if (max_abs < 1e-15f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[b].d = mg_fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < 16; ib++) {
            const int l = round_magic(iscale * scales[ib]);
            y[b].scales[ib] = (int8_t)(l < 127 ? l : 127);
        }
        for (int j = 0; j < 16; j++) {
            const float d = mg_fp16_to_fp32(y[b].d) * y[b].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (int8_t)(clampi(round_magic(x[16 * j + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *q = L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[l] & 0x0F) | ((q[l + 64] & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q[l + 32] & 0x0F) | ((q[l + 96] & 0x0F) << 4));
                qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
            }
        }
    }
}

/* Expand a Q6_K block to signed values in [-32, 31]. */
static inline void q6_k_decode(const blk_q6_k *b, int8_t v[QKB]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = v + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

void mg_dequantize_q6_k(const void *blocks, float *y, size_t n) {
    const blk_q6_k *b = blocks;
    int8_t v[QKB];
    for (size_t i = 0; i < n / QKB; i++, y += QKB) {
        const float d = mg_fp16_to_fp32(b[i].d);
        q6_k_decode(&b[i], v);
        for (int j = 0; j < QKB; j++) y[j] = d * b[i].scales[j / 16] * v[j];
    }
}

/* ------------------------------------------------------------------------- */
/* Q8_K activations (scalar reference)                                       */
/* ------------------------------------------------------------------------- */

static void q8_k_block(const float *x, blk_q8_k *y) {
    float amax = 0, vmax = 0;
    for (int j = 0; j < QKB; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); vmax = x[j]; }
    }
    if (!amax) {                                   /* ggml leaves bsums unset here; we zero them */
        memset(y, 0, sizeof(*y));
        return;
    }
    const float iscale = -127.f / vmax;
    for (int j = 0; j < QKB; j++) {
        const int v = round_magic(iscale * x[j]);
        y->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += y->qs[16 * j + l];
        y->bsums[j] = (int16_t)s;
    }
    y->d = 1 / iscale;
}

/* ------------------------------------------------------------------------- */
/* Level selection                                                           */
/* ------------------------------------------------------------------------- */

static atomic_int g_level = -1;    /* active level, -1 until first use */

static int detect_level(void) {
#if MG_X86
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("f16c");
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        return 2;
    return avx2 ? 1 : 0;
#else
    return 0;
#endif
}

int mg_quant_level(void) {
    int l = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (l < 0) {
        l = detect_level();
        atomic_store_explicit(&g_level, l, memory_order_relaxed);
    }
    return l;
}

void mg_quant_limit_level(int max_level) {
    int l = detect_level();
    if (max_level >= 0 && max_level < l) l = max_level;
    atomic_store_explicit(&g_level, l, memory_order_relaxed);
}

/* ------------------------------------------------------------------------- */
/* Tile kernels                                                              */
/*                                                                           */
/* A tile kernel computes nr weight rows x nc activation rows (nc <= 4) over  */
/* nb blocks and writes y[c*ldy + r].  w/a point at the first row of the tile, */
/* ws/as are row strides in bytes.  Each weight block is decoded once and     */
/* reused for all nc activation rows.                                         */
/* ------------------------------------------------------------------------- */

typedef void (*tile_fn)(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                        size_t nb, int nr, int nc, float *y, size_t ldy);

/* Scalar kernels follow the float order of ggml's generic vec_dot (one weight row). */

static void q8_0_tile_scalar(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                             size_t nb, int nr, int nc, float *y, size_t ldy) {
    (void)ws; (void)nr;
    const blk_q8_0 *wb = (const blk_q8_0 *)w;
    float sum[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < nb; i++) {
        const float dw = mg_fp16_to_fp32(wb[i].d);
        for (int c = 0; c < nc; c++) {
            const blk_q8_0 *ab = (const blk_q8_0 *)(a + c * as) + i;
            int s = 0;
            for (int j = 0; j < QB; j++) s += wb[i].qs[j] * ab->qs[j];
            sum[c] += s * (dw * mg_fp16_to_fp32(ab->d));
        }
    }
    for (int c = 0; c < nc; c++) y[c * ldy] = sum[c];
}

static void q5_0_tile_scalar(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                             size_t nb, int nr, int nc, float *y, size_t ldy) {
    (void)ws; (void)nr;
    const blk_q5_0 *wb = (const blk_q5_0 *)w;
    float sum[4] = {0, 0, 0, 0};
    int8_t v[QB];
    for (size_t i = 0; i < nb; i++) {
        q5_0_decode(&wb[i], v);
        const float dw = mg_fp16_to_fp32(wb[i].d);
        for (int c = 0; c < nc; c++) {
            const blk_q8_0 *ab = (const blk_q8_0 *)(a + c * as) + i;
            int s = 0;
            for (int j = 0; j < QB; j++) s += v[j] * ab->qs[j];
            sum[c] += (dw * mg_fp16_to_fp32(ab->d)) * s;
        }
    }
    for (int c = 0; c < nc; c++) y[c * ldy] = sum[c];
}

/* K-quant scalar dots keep ggml's 8 interleaved partial sums (lane = index mod 8). */
static void q4_k_tile_scalar(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                             size_t nb, int nr, int nc, float *y, size_t ldy) {
    (void)ws; (void)nr;
    const blk_q4_k *wb = (const blk_q4_k *)w;
    float lanes[4][8] = {{0}}, sum[4] = {0, 0, 0, 0};
    uint8_t q[QKB], sc[8], mn[8];
    for (size_t i = 0; i < nb; i++) {
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                q[64 * g + l] = wb[i].qs[32 * g + l] & 0x0F;
                q[64 * g + 32 + l] = wb[i].qs[32 * g + l] >> 4;
            }
        q4_k_unpack_scales(wb[i].scales, sc, mn);
        const float dw = mg_fp16_to_fp32(wb[i].d), dmw = mg_fp16_to_fp32(wb[i].dmin);
        for (int c = 0; c < nc; c++) {
            const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
            int32_t acc[8] = {0};
            for (int j = 0; j < 8; j++) {          /* same integer lanes as ggml, sub-block by sub-block */
                int32_t part[8] = {0};
                for (int t = 0; t < 32; t += 8)
                    for (int l = 0; l < 8; l++) part[l] += q[32 * j + t + l] * ab->qs[32 * j + t + l];
                for (int l = 0; l < 8; l++) acc[l] += sc[j] * part[l];
            }
            int msum = 0;
            for (int j = 0; j < 16; j++) msum += ab->bsums[j] * mn[j / 2];
            const float d = dw * ab->d, dmin = dmw * ab->d;
            for (int l = 0; l < 8; l++) lanes[c][l] += d * acc[l];
            sum[c] -= dmin * msum;
        }
    }
    for (int c = 0; c < nc; c++) {
        for (int l = 0; l < 8; l++) sum[c] += lanes[c][l];
        y[c * ldy] = sum[c];
    }
}

static void q6_k_tile_scalar(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                             size_t nb, int nr, int nc, float *y, size_t ldy) {
    (void)ws; (void)nr;
    const blk_q6_k *wb = (const blk_q6_k *)w;
    float lanes[4][8] = {{0}};
    int8_t v[QKB];
    for (size_t i = 0; i < nb; i++) {
        q6_k_decode(&wb[i], v);
        const float dw = mg_fp16_to_fp32(wb[i].d);
        for (int c = 0; c < nc; c++) {
            const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
            int32_t acc[8] = {0};
            for (int j = 0; j < 16; j++) {
                int32_t part[8];
                for (int l = 0; l < 8; l++) part[l] = v[16 * j + l] * ab->qs[16 * j + l] + v[16 * j + 8 + l] * ab->qs[16 * j + 8 + l];
                for (int l = 0; l < 8; l++) acc[l] += wb[i].scales[j] * part[l];
            }
            const float d = dw * ab->d;
            for (int l = 0; l < 8; l++) lanes[c][l] += d * acc[l];
        }
    }
    for (int c = 0; c < nc; c++) {
        float s = 0;
        for (int l = 0; l < 8; l++) s += lanes[c][l];
        y[c * ldy] = s;
    }
}

#if MG_X86

#define T_AVX2 __attribute__((target("avx2,fma,f16c")))
#define T_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))
/* Tile loops have constant trip counts; unroll them fully so the accumulator
 * arrays become registers instead of stack slots. */
#define UNROLL _Pragma("GCC unroll 8")

/* Instantiate a tile body for the shapes the driver uses: RM or 1 weight rows
 * by 1..4 activation rows, so that every loop bound is a constant and the
 * accumulators stay in registers. */
#define DEFINE_TILE(name, body, RM, TGT)                                                  \
    TGT static void name(const uint8_t *w, size_t ws, const uint8_t *a, size_t as,        \
                         size_t nb, int nr, int nc, float *y, size_t ldy) {               \
        switch ((nr == 1 ? 0 : 4) + nc) {                                                 \
        case 1: body(1, 1, w, ws, a, as, nb, y, ldy); break;                              \
        case 2: body(1, 2, w, ws, a, as, nb, y, ldy); break;                              \
        case 3: body(1, 3, w, ws, a, as, nb, y, ldy); break;                              \
        case 4: body(1, 4, w, ws, a, as, nb, y, ldy); break;                              \
        case 5: body(RM, 1, w, ws, a, as, nb, y, ldy); break;                             \
        case 6: body(RM, 2, w, ws, a, as, nb, y, ldy); break;                             \
        case 7: body(RM, 3, w, ws, a, as, nb, y, ldy); break;                             \
        default: body(RM, 4, w, ws, a, as, nb, y, ldy); break;                            \
        }                                                                                 \
    }

/* ---------------- AVX2 ---------------- */

/* f16 -> f32 as vmovd + vcvtph2ps.  Written in asm because compilers, knowing
 * only lane 0 matters, insert the half into whatever register is at hand,
 * often the loop accumulator, chaining each conversion onto the previous
 * iteration's FMA (a 3x slowdown of the AVX2 Q8_0 loop). */
T_AVX2 INLINE float h2f(uint16_t h) {
    __m128 r;
    __asm__("vmovd %1, %0\n\tvcvtph2ps %0, %0" : "=x"(r) : "r"((uint32_t)h));
    return _mm_cvtss_f32(r);
}

T_AVX2 INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Q5_0 block as 32 unsigned levels 0..31 (value + 16). */
T_AVX2 INLINE __m256i q5_0_levels_avx2(const blk_q5_0 *b) {
    const __m128i q = _mm_loadu_si128((const __m128i *)b->qs);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    /* byte j tests bit j of qh: spread byte j/8 of qh, mask bit j%8 */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i hi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nib, hi);
}

/* Q8_0 / Q5_0 weights against Q8_0 activations.  Q8_0 uses the sign trick
 * (|w| * sign(a, w)) so maddubs gets an unsigned operand; Q5_0 uses its
 * unsigned levels and subtracts 16*sum(a), computed once per activation block. */
T_AVX2 INLINE void q32_avx2_body(const int Q5, const int NR, const int NC, const uint8_t *w, size_t ws,
                                 const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    const __m256i ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi8(16);
    __m256 acc[2][4];
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        __m256i wv[2], wu[2];
        __m256 dw[2];
        UNROLL for (int r = 0; r < NR; r++) {
            if (Q5) {
                const blk_q5_0 *b = (const blk_q5_0 *)(w + r * ws) + i;
                wu[r] = q5_0_levels_avx2(b);
                dw[r] = _mm256_set1_ps(h2f(b->d));
            } else {
                const blk_q8_0 *b = (const blk_q8_0 *)(w + r * ws) + i;
                wv[r] = _mm256_loadu_si256((const __m256i *)b->qs);
                wu[r] = _mm256_abs_epi8(wv[r]);
                dw[r] = _mm256_set1_ps(h2f(b->d));
            }
        }
        UNROLL for (int c = 0; c < NC; c++) {
            const blk_q8_0 *b = (const blk_q8_0 *)(a + c * as) + i;
            const __m256i av = _mm256_loadu_si256((const __m256i *)b->qs);
            const __m256 da = _mm256_set1_ps(h2f(b->d));
            const __m256i fix = Q5 ? _mm256_maddubs_epi16(sixteen, av) : _mm256_setzero_si256();
            UNROLL for (int r = 0; r < NR; r++) {
                __m256i p = Q5 ? _mm256_sub_epi16(_mm256_maddubs_epi16(wu[r], av), fix)
                               : _mm256_maddubs_epi16(wu[r], _mm256_sign_epi8(av, wv[r]));
                const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                acc[r][c] = _mm256_fmadd_ps(s, _mm256_mul_ps(dw[r], da), acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) y[c * ldy + r] = hsum256(acc[r][c]);
}

#define Q8_0_AVX2(NR, NC, ...) q32_avx2_body(0, NR, NC, __VA_ARGS__)
#define Q5_0_AVX2(NR, NC, ...) q32_avx2_body(1, NR, NC, __VA_ARGS__)
DEFINE_TILE(q8_0_tile_avx2, Q8_0_AVX2, 2, T_AVX2)
DEFINE_TILE(q5_0_tile_avx2, Q5_0_AVX2, 2, T_AVX2)

/* Q4_K: per 64-value group, maddubs(nibbles, a) then madd with the sub-block
 * scale gives exact int32 sums; mins use the activation's bsums.  Per block the
 * float update is acc += da * (dw*isum - dmin*msum), one add on the chain. */
T_AVX2 INLINE void q4_k_avx2_body(const int NR, const int NC, const uint8_t *w, size_t ws,
                                  const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    (void)ws; (void)NR;  /* one weight row per tile: 16 ymm registers are not enough for two */
    const blk_q4_k *wb = (const blk_q4_k *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[4];
    UNROLL for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        uint64_t sc, mn;
        q4_k_scales_u64(wb[i].scales, &sc, &mn);
        __m256i isum[4];
        UNROLL for (int c = 0; c < NC; c++) isum[c] = _mm256_setzero_si256();
        UNROLL for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(wb[i].qs + 32 * g));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i slo = _mm256_set1_epi16((short)((sc >> (16 * g)) & 0xff));
            const __m256i shi = _mm256_set1_epi16((short)((sc >> (16 * g + 8)) & 0xff));
            UNROLL for (int c = 0; c < NC; c++) {
                const int8_t *q8 = ((const blk_q8_k *)(a + c * as) + i)->qs + 64 * g;
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8)), slo);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32))), shi);
                isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(p0, p1));
            }
        }
        /* bsums[j] covers 16 values, so it pairs with mins[j/2] */
        const __m128i mb = _mm_cvtsi64_si128((long long)mn);
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
        const __m256 dw = _mm256_set1_ps(h2f(wb[i].d)), dmw = _mm256_set1_ps(h2f(wb[i].dmin));
        UNROLL for (int c = 0; c < NC; c++) {
            const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
            const __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)ab->bsums), mins16);
            const __m256 t = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), dmw, _mm256_mul_ps(_mm256_cvtepi32_ps(isum[c]), dw));
            acc[c] = _mm256_fmadd_ps(t, _mm256_set1_ps(ab->d), acc[c]);
        }
    }
    UNROLL for (int c = 0; c < NC; c++) y[c * ldy] = hsum256(acc[c]);
}

/* Q6_K: levels are used unsigned (value + 32); the -32 offset is folded back
 * through the activation's bsums: sum(sc*(u-32)*a) = sum(sc*u*a) - 32*sum(sc*bsum). */
T_AVX2 INLINE void q6_k_avx2_body(const int NR, const int NC, const uint8_t *w, size_t ws,
                                  const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    (void)ws; (void)NR;
    const blk_q6_k *wb = (const blk_q6_k *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4];
    UNROLL for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const int8_t *sc = wb[i].scales;
        __m256i isum[4];
        UNROLL for (int c = 0; c < NC; c++) isum[c] = _mm256_setzero_si256();
        for (int t = 0; t < 8; t++) {              /* 32 values: sub-blocks 2t and 2t+1 (not unrolled: spills) */
            const int h = t / 4, part = t % 4;
            const __m256i ql = _mm256_loadu_si256((const __m256i *)(wb[i].ql + 64 * h + 32 * (part & 1)));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(wb[i].qh + 32 * h));
            const __m256i low = part < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
            __m256i high;
            switch (part) {
            case 0: high = _mm256_slli_epi16(qh, 4); break;
            case 1: high = _mm256_slli_epi16(qh, 2); break;
            case 2: high = qh; break;
            default: high = _mm256_srli_epi16(qh, 2); break;
            }
            const __m256i u = _mm256_or_si256(low, _mm256_and_si256(high, m30));
            const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[2 * t + 1]), _mm_set1_epi16(sc[2 * t]));
            UNROLL for (int c = 0; c < NC; c++) {
                const int8_t *q8 = ((const blk_q8_k *)(a + c * as) + i)->qs + 32 * t;
                const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)q8));
                isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(p, s16));
            }
        }
        const __m256i scm32 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)),
                                                 _mm256_set1_epi16(-32));
        const __m256 dw = _mm256_set1_ps(h2f(wb[i].d));
        UNROLL for (int c = 0; c < NC; c++) {
            const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
            const __m256i fix = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)ab->bsums), scm32);
            const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum[c], fix)), dw);
            acc[c] = _mm256_fmadd_ps(t, _mm256_set1_ps(ab->d), acc[c]);
        }
    }
    UNROLL for (int c = 0; c < NC; c++) y[c * ldy] = hsum256(acc[c]);
}

DEFINE_TILE(q4_k_tile_avx2, q4_k_avx2_body, 1, T_AVX2)
DEFINE_TILE(q6_k_tile_avx2, q6_k_avx2_body, 1, T_AVX2)

/* ---------------- AVX512-VNNI ---------------- */

/* vpdpbusd multiplies unsigned by signed bytes with no intermediate
 * saturation, so every kernel feeds it one unsigned operand and corrects the
 * offset exactly in the int32 accumulator. */

/* Two consecutive 32-value blocks in one register; a missing second block reads as zeros. */
T_VNNI INLINE __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* f16 scales of two blocks broadcast to lanes 0-7 and 8-15. */
T_VNNI INLINE __m512 scale_pair(uint16_t h0, uint16_t h1) {
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)h0 | ((uint32_t)h1 << 16))));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(f));
}

/* Q5_0 levels 0..31 of one or two blocks: 128-bit lanes hold low nibbles of
 * block 0, high nibbles of block 0, then the same for block 1; qh is a bitmask. */
T_VNNI INLINE __m512i q5_0_levels_vnni(const blk_q5_0 *b, int two) {
    const __m128i q0 = _mm_loadu_si128((const __m128i *)b[0].qs);
    const __m128i q1 = two ? _mm_loadu_si128((const __m128i *)b[1].qs) : _mm_setzero_si128();
    const __m256i q01 = _mm256_set_m128i(q1, q0);
    __m512i z = join256(q01, q01);                                  /* q0 q1 q0 q1 */
    z = _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));         /* q0 q0 q1 q1 */
    const __m512i shift = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0,
                                           0x0004000400040004, 0x0004000400040004, 0, 0);
    z = _mm512_and_si512(_mm512_srlv_epi16(z, shift), _mm512_set1_epi8(0x0F));
    uint32_t h0, h1 = 0;
    memcpy(&h0, b[0].qh, 4);
    if (two) memcpy(&h1, b[1].qh, 4);
    const __mmask64 hm = (__mmask64)h0 | ((__mmask64)h1 << 32);
    return _mm512_mask_add_epi8(z, hm, z, _mm512_set1_epi8(16));
}

/* One step over blocks i (and i+1 when TWO) for Q8_0 or Q5_0 weights.
 * Q8_0 weights are made unsigned with +128 and the activations carry the
 * correction -128*sum(a); Q5_0 levels are value+16, correction -16*sum(a). */
T_VNNI INLINE void q32_vnni_step(const int Q5, const int TWO, const int NR, const int NC, const uint8_t *w,
                                 size_t ws, const uint8_t *a, size_t as, size_t i, __m512 acc[4][4]) {
    const __m512i bias = _mm512_set1_epi8(Q5 ? 16 : (char)0x80);
    __m512i wu[4];
    __m512 wd[4];
    UNROLL for (int r = 0; r < NR; r++) {
        if (Q5) {
            const blk_q5_0 *b = (const blk_q5_0 *)(w + r * ws) + i;
            wu[r] = q5_0_levels_vnni(b, TWO);
            wd[r] = scale_pair(b[0].d, TWO ? b[1].d : 0);
        } else {
            const blk_q8_0 *b = (const blk_q8_0 *)(w + r * ws) + i;
            const __m256i hi = TWO ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
            wu[r] = _mm512_xor_si512(join256(_mm256_loadu_si256((const __m256i *)b[0].qs), hi), bias);
            wd[r] = scale_pair(b[0].d, TWO ? b[1].d : 0);
        }
    }
    UNROLL for (int c = 0; c < NC; c++) {
        const blk_q8_0 *b = (const blk_q8_0 *)(a + c * as) + i;
        const __m256i hi = TWO ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
        const __m512i av = join256(_mm256_loadu_si256((const __m256i *)b[0].qs), hi);
        const __m512i fix = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, av));
        const __m512 ad = scale_pair(b[0].d, TWO ? b[1].d : 0);
        UNROLL for (int r = 0; r < NR; r++) {
            const __m512i dp = _mm512_dpbusd_epi32(fix, wu[r], av);
            acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), _mm512_mul_ps(wd[r], ad), acc[r][c]);
        }
    }
}

T_VNNI INLINE void q32_vnni_body(const int Q5, const int NR, const int NC, const uint8_t *w, size_t ws,
                                 const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 1 < nb; i += 2) q32_vnni_step(Q5, 1, NR, NC, w, ws, a, as, i, acc);
    if (i < nb) q32_vnni_step(Q5, 0, NR, NC, w, ws, a, as, i, acc);
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

#define Q8_0_VNNI(NR, NC, ...) q32_vnni_body(0, NR, NC, __VA_ARGS__)
#define Q5_0_VNNI(NR, NC, ...) q32_vnni_body(1, NR, NC, __VA_ARGS__)
DEFINE_TILE(q8_0_tile_vnni, Q8_0_VNNI, 4, T_VNNI)
DEFINE_TILE(q5_0_tile_vnni, Q5_0_VNNI, 4, T_VNNI)

/* K-quants: vpdpbusd gives 4-value sums (|s| < 2^15), and vpdpwssd with a
 * scale whose upper 16 bits are zero multiplies each int32 lane by its
 * sub-block scale exactly, so the whole super-block sum stays in int32. */

/* Broadcast per-lane sub-block scales: lane L of register t gets s[per*t + L/(16/per)]. */
T_VNNI INLINE __m512i lane_scales(__m512i s, int first, int lanes_per_scale) {
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i sub = lanes_per_scale == 8 ? _mm512_srli_epi32(lane, 3) : _mm512_srli_epi32(lane, 2);
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(first), sub);
    return _mm512_permutexvar_epi32(idx, s);
}

/* 16 int32 lanes -> 8, so the per-block float work runs at 256 bits. */
T_VNNI INLINE __m256i fold512(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

T_VNNI INLINE void q4_k_vnni_body(const int NR, const int NC, const uint8_t *w, size_t ws,
                                  const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i shift = join256(_mm256_setzero_si256(), _mm256_set1_epi16(4)); /* low half: low nibbles */
    __m256 acc[2][4];
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const blk_q4_k *wb[2];
        uint64_t mn[2];
        __m512i S[2], isum[2][4];
        UNROLL for (int r = 0; r < NR; r++) {
            uint64_t sc;
            wb[r] = (const blk_q4_k *)(w + r * ws) + i;
            q4_k_scales_u64(wb[r]->scales, &sc, &mn[r]);
            S[r] = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc));   /* lanes 0-7: scales */
            UNROLL for (int c = 0; c < NC; c++) isum[r][c] = _mm512_setzero_si512();
        }
        UNROLL for (int g = 0; g < 4; g++) {              /* 64 values: sub-blocks 2g, 2g+1 */
            __m512i q[2], s[2];
            UNROLL for (int r = 0; r < NR; r++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(wb[r]->qs + 32 * g));
                q[r] = _mm512_and_si512(_mm512_srlv_epi16(join256(raw, raw), shift), m4);
                s[r] = lane_scales(S[r], 2 * g, 8);
            }
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512i av = _mm512_loadu_si512(((const blk_q8_k *)(a + c * as) + i)->qs + 64 * g);
                UNROLL for (int r = 0; r < NR; r++) {
                    const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[r], av);
                    isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], dp, s[r]);
                }
            }
        }
        /* acc += da * (dw*isum - dmin*msum); bsums[j] pairs with mins[j/2] */
        UNROLL for (int r = 0; r < NR; r++) {
            const __m128i mb = _mm_cvtsi64_si128((long long)mn[r]);
            const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
            const __m256 dw = _mm256_set1_ps(h2f(wb[r]->d)), dmw = _mm256_set1_ps(h2f(wb[r]->dmin));
            UNROLL for (int c = 0; c < NC; c++) {
                const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
                const __m256i msum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)ab->bsums), mins16);
                const __m256 t = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), dmw,
                                                  _mm256_mul_ps(_mm256_cvtepi32_ps(fold512(isum[r][c])), dw));
                acc[r][c] = _mm256_fmadd_ps(t, _mm256_set1_ps(ab->d), acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) y[c * ldy + r] = hsum256(acc[r][c]);
}

T_VNNI INLINE void q6_k_vnni_body(const int NR, const int NC, const uint8_t *w, size_t ws,
                                  const uint8_t *a, size_t as, size_t nb, float *y, size_t ldy) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m256 acc[2][4];
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (size_t i = 0; i < nb; i++) {
        const blk_q6_k *wb[2];
        __m512i S[2], isum[2][4];
        UNROLL for (int r = 0; r < NR; r++) {
            wb[r] = (const blk_q6_k *)(w + r * ws) + i;
            /* int16 scale in the low half of each int32 lane, upper half zero */
            S[r] = _mm512_cvtepu16_epi32(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[r]->scales)));
            UNROLL for (int c = 0; c < NC; c++) isum[r][c] = _mm512_setzero_si512();
        }
        UNROLL for (int t = 0; t < 4; t++) {              /* 64 values: sub-blocks 4t..4t+3 */
            const int h = t / 2, upper = t & 1;
            __m512i u[2], s[2];
            UNROLL for (int r = 0; r < NR; r++) {
                const __m512i ql = _mm512_loadu_si512(wb[r]->ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(wb[r]->qh + 32 * h));
                const __m512i qhz = join256(qh, _mm256_srli_epi16(qh, 2));
                u[r] = upper ? _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(qhz, m30))
                             : _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(qhz, 4), m30));
                s[r] = lane_scales(S[r], 4 * t, 4);
            }
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512i av = _mm512_loadu_si512(((const blk_q8_k *)(a + c * as) + i)->qs + 64 * t);
                UNROLL for (int r = 0; r < NR; r++) {
                    const __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[r], av);
                    isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], dp, s[r]);
                }
            }
        }
        /* undo the +32 level offset: -32 * sum_j sc_j * bsums_j, exact in int32 */
        UNROLL for (int r = 0; r < NR; r++) {
            const __m256i scm32 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[r]->scales)),
                                                     _mm256_set1_epi16(-32));
            const __m256 dw = _mm256_set1_ps(h2f(wb[r]->d));
            UNROLL for (int c = 0; c < NC; c++) {
                const blk_q8_k *ab = (const blk_q8_k *)(a + c * as) + i;
                const __m256i fix = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)ab->bsums), scm32);
                const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(fold512(isum[r][c]), fix)), dw);
                acc[r][c] = _mm256_fmadd_ps(t, _mm256_set1_ps(ab->d), acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < NR; r++)
        UNROLL for (int c = 0; c < NC; c++) y[c * ldy + r] = hsum256(acc[r][c]);
}

DEFINE_TILE(q4_k_tile_vnni, q4_k_vnni_body, 2, T_VNNI)
DEFINE_TILE(q6_k_tile_vnni, q6_k_vnni_body, 2, T_VNNI)

/* ---------------- AVX512-VNNI GEMV for decode (m < GEMM_MIN_M) ---------------- */

/*
 * One activation row against many weight rows, one weight row at a time (a
 * single stream per thread is what the hardware prefetcher follows best).
 * Without other activation rows to share the weight decoding, the tiles'
 * per-block work is the limit (~44 cycles per Q4_K block); these loops take
 * 64 weight bytes per load and keep the per-block float work in one vector
 * accumulator, about 1.4x (Q4_K) and 1.15x (Q6_K) faster in L2.
 */

/* Q4_K: a 64-byte load of qs holds four 32-value sub-blocks: low nibbles are
 * sub-blocks 4g and 4g+2 of the 128 values, high nibbles 4g+1 and 4g+3.  The
 * activations are re-laid once per call to match, with the mins' activation
 * sums (bsums paired per 32 values) pre-multiplied by the activation scale. */
typedef struct {
    int8_t q[256];   /* per 128 values: [0-31, 64-95] then [32-63, 96-127] */
    float bsf[8];    /* d * (bsums[2j] + bsums[2j+1]) */
    float d;
    float pad[7];
} act_q4_k_t;

static void q4_k_gemv_prepare(const blk_q8_k *a, size_t nb, act_q4_k_t *out) {
    for (size_t i = 0; i < nb; i++) {
        for (int g = 0; g < 2; g++) {
            memcpy(out[i].q + 128 * g, a[i].qs + 128 * g, 32);
            memcpy(out[i].q + 128 * g + 32, a[i].qs + 128 * g + 64, 32);
            memcpy(out[i].q + 128 * g + 64, a[i].qs + 128 * g + 32, 32);
            memcpy(out[i].q + 128 * g + 96, a[i].qs + 128 * g + 96, 32);
        }
        for (int j = 0; j < 8; j++) out[i].bsf[j] = a[i].d * (float)(a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        out[i].d = a[i].d;
    }
}

/* Lanes 0-7 get s[lo], lanes 8-15 s[hi]. */
T_VNNI INLINE __m512i two_scales(__m512i s, int lo, int hi) {
    return _mm512_permutexvar_epi32(_mm512_set_epi32(hi, hi, hi, hi, hi, hi, hi, hi, lo, lo, lo, lo, lo, lo, lo, lo), s);
}

/* y[r] = row r . a = sum over blocks of d*da*sum(sc*q*a) - dmin*sum(mn * da*bsum) */
T_VNNI static void q4_k_gemv_vnni(const uint8_t *w, size_t ws, size_t r0, size_t r1, const act_q4_k_t *a,
                                  size_t nb, float *y) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (size_t r = r0; r < r1; r++) {
        const blk_q4_k *wb = (const blk_q4_k *)(w + r * ws);
        __m512 acc = _mm512_setzero_ps();
        __m256 accm = _mm256_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            uint64_t sc, mn;
            q4_k_scales_u64(wb[i].scales, &sc, &mn);
            const __m512i S = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc));
            __m512i isum[2];
            UNROLL for (int g = 0; g < 2; g++) {
                const __m512i q = _mm512_loadu_si512(wb[i].qs + 64 * g);
                const int8_t *aq = a[i].q + 128 * g;
                const __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, m4),
                                                       _mm512_loadu_si512(aq));
                const __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                       _mm512_and_si512(_mm512_srli_epi16(q, 4), m4),
                                                       _mm512_loadu_si512(aq + 64));
                isum[g] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), lo, two_scales(S, 4 * g, 4 * g + 2));
                isum[g] = _mm512_dpwssd_epi32(isum[g], hi, two_scales(S, 4 * g + 1, 4 * g + 3));
            }
            uint32_t dpair;   /* d and dmin, adjacent f16s */
            memcpy(&dpair, &wb[i].d, 4);
            const __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dpair));
            const __m512 dw = _mm512_mul_ps(_mm512_broadcastss_ps(dd), _mm512_set1_ps(a[i].d));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(isum[0], isum[1])), dw, acc);
            const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn)));
            const __m256 dmin = _mm256_permutexvar_ps(_mm256_set1_epi32(1), _mm256_castps128_ps256(dd));
            accm = _mm256_fmadd_ps(_mm256_mul_ps(mins, dmin), _mm256_loadu_ps(a[i].bsf), accm);
        }
        y[r] = _mm512_reduce_add_ps(acc) - hsum256(accm);
    }
}

/* Q6_K: a 64-byte load of ql covers 128 values (low nibbles values 0-63,
 * high nibbles 64-127), so the Q8_K activations are used as they are.  Levels
 * are unsigned (value + 32); the offset comes back through the bsums. */
T_VNNI static void q6_k_gemv_vnni(const uint8_t *w, size_t ws, size_t r0, size_t r1, const blk_q8_k *a,
                                  size_t nb, float *y) {
    const __m512i m33 = _mm512_set1_epi8(0x33), m0f = _mm512_set1_epi8(0x0F);
    for (size_t r = r0; r < r1; r++) {
        const blk_q6_k *wb = (const blk_q6_k *)(w + r * ws);
        __m512 acc = _mm512_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[i].scales));
            const __m512i S = _mm512_cvtepu16_epi32(sc16);   /* int16 scale in each lane's low half */
            __m512i isum[2];
            UNROLL for (int h = 0; h < 2; h++) {
                const __m512i ql = _mm512_loadu_si512(wb[i].ql + 64 * h);
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(wb[i].qh + 32 * h));
                /* bits 0-1 of each byte: values 0-63's high bits; bits 4-5: values 64-127's */
                const __m512i qhz = _mm512_and_si512(join256(qh, _mm256_srli_epi16(qh, 2)), m33);
                /* 0xCA = "mask ? first : second", bit by bit: nibble from ql, bits 4-7 from qh */
                const __m512i ulo = _mm512_ternarylogic_epi32(m0f, ql, _mm512_slli_epi16(qhz, 4), 0xCA);
                const __m512i uhi = _mm512_ternarylogic_epi32(m0f, _mm512_srli_epi16(ql, 4), qhz, 0xCA);
                const int8_t *aq = a[i].qs + 128 * h;
                const __m512i lo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ulo, _mm512_loadu_si512(aq));
                const __m512i hi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), uhi, _mm512_loadu_si512(aq + 64));
                isum[h] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), lo, lane_scales(S, 8 * h, 4));
                isum[h] = _mm512_dpwssd_epi32(isum[h], hi, lane_scales(S, 8 * h + 4, 4));
            }
            /* -32 * sum_j sc_j * bsums_j */
            const __m256i fix = _mm256_slli_epi32(
                _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[i].bsums), sc16), 5);
            const __m512i total = _mm512_sub_epi32(_mm512_add_epi32(isum[0], isum[1]), _mm512_zextsi256_si512(fix));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_set1_ps(h2f(wb[i].d) * a[i].d), acc);
        }
        y[r] = _mm512_reduce_add_ps(acc);
    }
}

/* Activations re-laid on the stack up to this many Q4_K blocks (k = 16384 for one row), on the heap beyond. */
enum { GEMV_STACK_BLOCKS = 64 };

/* Q4_K / Q6_K products with fewer activation rows than the GEMM takes: each activation row runs the GEMV, so
 * a row's result does not depend on the other rows (a prompt of 1-7 rows gives the bits the rows give alone).
 * With several rows, weight rows are outermost so each stays in L1 while the activation rows pass it.
 * Returns 0 when the type has no GEMV (or its buffer cannot be allocated). */
static int gemv_vnni(int type, const void *w, size_t k, const void *a_rows, size_t m, size_t row_begin,
                     size_t row_end, float *y, size_t ldy) {
    const size_t nb = k / QKB, ws = mg_quant_row_bytes(type, k), as = mg_quant_row_bytes(MG_TYPE_Q8_K, k);
    const uint8_t *a8 = a_rows;
    if (type == MG_TYPE_Q6_K) {
        if (m == 1) {
            q6_k_gemv_vnni(w, ws, row_begin, row_end, a_rows, nb, y);
            return 1;
        }
        for (size_t row = row_begin; row < row_end; row++)
            for (size_t c = 0; c < m; c++)
                q6_k_gemv_vnni(w, ws, row, row + 1, (const blk_q8_k *)(a8 + c * as), nb, y + c * ldy);
        return 1;
    }
    if (type != MG_TYPE_Q4_K) return 0;
    act_q4_k_t stack[GEMV_STACK_BLOCKS];
    act_q4_k_t *prep = m * nb <= GEMV_STACK_BLOCKS ? stack : malloc(m * nb * sizeof(act_q4_k_t));
    if (!prep) return 0;
    for (size_t c = 0; c < m; c++) q4_k_gemv_prepare((const blk_q8_k *)(a8 + c * as), nb, prep + c * nb);
    if (m == 1) {
        q4_k_gemv_vnni(w, ws, row_begin, row_end, prep, nb, y);
    } else {
        for (size_t row = row_begin; row < row_end; row++)
            for (size_t c = 0; c < m; c++) q4_k_gemv_vnni(w, ws, row, row + 1, prep + c * nb, nb, y + c * ldy);
    }
    if (prep != stack) free(prep);
    return 1;
}

/* ---------------- AVX512-VNNI GEMM for prefill (m >= GEMM_MIN_M) ---------------- */

/*
 * With many activation rows the tile kernels above spend most of their time
 * re-decoding weights and applying scales per (weight row, activation row).
 * This path decodes a panel of PR = 16 weight rows once into signed 8-bit
 * values laid out [k/4][16 rows][4 bytes]: one 64-byte load then feeds a
 * vpdpbusd whose 16 int32 lanes are 16 weight rows.  The activations are
 * copied once per call into [k/4][GEMM_NC rows][4 bytes] with 128 added (so
 * they are the unsigned operand vpdpbusd wants) and 4 bytes of one row are
 * broadcast to all lanes.  Per-(sub-)block weight scales become vectors over
 * a panel's rows, so each scaling step serves 16 rows.
 *
 * Exactness: sum((a + 128) * w) = sum(a * w) + 128 * sum(w), and the second
 * term depends on the weights only, so each panel carries it per block and
 * row (corr) and it costs nothing per activation row.  Q4_K's mins still need
 * the activations' bsums (one vpdpwssd per 2 sub-blocks).  All sums are int32
 * and exact; only the float accumulation of per-block terms differs in order
 * from the tile kernels.
 *
 * The microkernel holds GEMM_NP panels (32 weight rows) x GEMM_NC activation
 * rows of int32 accumulators, so each broadcast feeds two vpdpbusd.
 */

enum {
    PR = 16,            /* weight rows per panel: the int32 lanes of a zmm */
    GEMM_MIN_M = 8,     /* below this the tile kernels win: panel decoding is not amortized */
};
#define GEMM_NP 2       /* panels per microkernel call (32 weight rows) */
#define GEMM_NC 4       /* activation rows per microkernel call: 2 x 4 int32 accumulators plus 2 x 4 for the scaled sums */
/* Bytes of interleaved activations (a K slice of all m rows) kept in L2 (1 MB on Zen 4) while the weight
 * panels pass over them.  Larger slices mean fewer passes over y; measured best around 3/4 of L2. */
#define GEMM_ACT_L2_BYTES (768 * 1024)

/* One decoded panel of PR weight rows over a K slice. */
typedef struct {
    int8_t *q;       /* [k/4][PR][4] signed values (zero past the slice's blocks) */
    int32_t *wsum;   /* [k/16][PR]: sums of 16 consecutive values, for corr */
    int32_t *corr;   /* [block][PR]: -128 * the block's (scaled) value sum, undoes the activation offset */
    float *d;        /* [block][PR]: Q8_0/Q5_0 block scale, K-quant super-block d */
    float *dmin;     /* [super-block][PR]: Q4_K dmin */
    int32_t *dsc;    /* [super-block][16][PR]: sc[j] - sc[j+1] (sc past the last sub-block = 0), see qk_gemm_body */
    int32_t *mins;   /* [super-block][4][PR]: Q4_K int16 pairs (min[2q], min[2q+1]) */
} panel_t;

/* One group of GEMM_NC activation rows over a K slice. */
typedef struct {
    const int32_t *q;   /* [k/4][GEMM_NC]: 4 values + 128 each */
    const float *d;     /* [block][GEMM_NC] scales */
    const int32_t *bs;  /* [super-block][4][GEMM_NC]: int16 pairs of 32-value sums (Q4_K mins) */
} act_t;

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* Transpose 16x16 int32: afterwards r[j] lane i = old r[i] lane j.  Turns 16
 * rows of 64 decoded values into 16 groups of 4 values x 16 rows. */
T_VNNI INLINE void transpose16_epi32(__m512i r[16]) {
    __m512i t[16], u[16];
    UNROLL for (int i = 0; i < 8; i++) {          /* within 128-bit lanes: pairs of rows */
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    UNROLL for (int q = 0; q < 4; q++) {          /* u[4q+j] lane L: column 4L+j of rows 4q..4q+3 */
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    UNROLL for (int j = 0; j < 4; j++) {          /* 4x4 transpose of 128-bit lanes */
        const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44), v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + j] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* Signed values 64t..64t+63 of one weight row, without the block scales (zeros past nb blocks). */
T_VNNI INLINE __m512i values64(int type, const uint8_t *row, size_t t, size_t nb) {
    switch (type) {
    case MG_TYPE_Q8_0: {
        const blk_q8_0 *b = (const blk_q8_0 *)row + 2 * t;
        const __m256i hi = 2 * t + 1 < nb ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
        return join256(_mm256_loadu_si256((const __m256i *)b[0].qs), hi);
    }
    case MG_TYPE_Q5_0: {                          /* levels 0..31 -> -16..15; a missing second block stays 0 */
        const __mmask64 both = 2 * t + 1 < nb ? ~(__mmask64)0 : 0xffffffffu;
        const __m512i lv = q5_0_levels_vnni((const blk_q5_0 *)row + 2 * t, 2 * t + 1 < nb);
        return _mm512_maskz_sub_epi8(both, lv, _mm512_set1_epi8(16));
    }
    case MG_TYPE_Q4_K: {                          /* low nibbles: values 0-31 of the 64, high: 32-63 */
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(((const blk_q4_k *)row + t / 4)->qs + 32 * (t % 4)));
        const __m512i shift = join256(_mm256_setzero_si256(), _mm256_set1_epi16(4));
        return _mm512_and_si512(_mm512_srlv_epi16(join256(raw, raw), shift), _mm512_set1_epi8(0x0F));
    }
    default: {                                    /* Q6_K, as q6_k_decode: (ql nibble | 2 bits of qh << 4) - 32 */
        const blk_q6_k *b = (const blk_q6_k *)row + t / 4;
        const int h = (int)(t % 4) / 2, upper = t & 1;
        const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
        const __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        const __m512i qhz = join256(qh, _mm256_srli_epi16(qh, 2));
        const __m512i lv = upper ? _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(qhz, m30))
                                 : _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(qhz, 4), m30));
        return _mm512_sub_epi8(lv, _mm512_set1_epi8(32));
    }
    }
}

static inline uint32_t pair16(int lo, int hi) { return (uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16; }

/* Byte j of each lane as int32, zero- or sign-extended. */
T_VNNI INLINE __m512i lane_byte(__m512i v, int j, int is_signed) {
    const __m512i b = _mm512_slli_epi32(v, 24 - 8 * j);
    return is_signed ? _mm512_srai_epi32(b, 24) : _mm512_srli_epi32(b, 24);
}

/* f16 in the low (hi = 0) or high half of each int32 lane -> float. */
T_VNNI INLINE __m512 lane_half(__m512i v, int hi) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hi ? _mm512_srli_epi32(v, 16) : v));
}

/* Per-block scalars of a panel, 16 rows at once: each block field is read with
 * one gather per 4 bytes (lane r at rows[r], so a short panel's repeated rows
 * work too), never past the block's last byte. */
T_VNNI static void panel_scales(int type, const uint8_t *const rows[PR], size_t k, panel_t *P) {
    int32_t off[PR];
    for (int r = 0; r < PR; r++) off[r] = (int32_t)(rows[r] - rows[0]);
    const __m512i idx = _mm512_loadu_si512(off);
    const size_t bb = mg_quant_block_bytes(type);
    if (type == MG_TYPE_Q8_0 || type == MG_TYPE_Q5_0) {   /* f16 d leads both block types */
        for (size_t b = 0; b < k / QB; b++) {
            const __m512i h = _mm512_i32gather_epi32(idx, rows[0] + b * bb, 1);
            _mm512_store_ps(P->d + b * PR, lane_half(h, 0));
            const __m512i ws = _mm512_add_epi32(_mm512_load_si512(P->wsum + 2 * b * PR), _mm512_load_si512(P->wsum + (2 * b + 1) * PR));
            _mm512_store_si512(P->corr + b * PR, _mm512_mullo_epi32(ws, _mm512_set1_epi32(-128)));
        }
        return;
    }
    for (size_t i = 0; i < k / QKB; i++) {
        const uint8_t *base = rows[0] + i * bb;
        const int32_t *ws = P->wsum + i * 16 * PR;
        __m512i sc[17], corr = _mm512_setzero_si512();
        if (type == MG_TYPE_Q4_K) {
            /* the 12 scale bytes as three words a, b, c, unpacked as in q4_k_scales_u64, lane by lane */
            const __m512i dd = _mm512_i32gather_epi32(idx, base + offsetof(blk_q4_k, d), 1);
            const __m512i a = _mm512_i32gather_epi32(idx, base + offsetof(blk_q4_k, scales), 1);
            const __m512i b = _mm512_i32gather_epi32(idx, base + offsetof(blk_q4_k, scales) + 4, 1);
            const __m512i c = _mm512_i32gather_epi32(idx, base + offsetof(blk_q4_k, scales) + 8, 1);
            const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303);
            const __m512i sc_lo = _mm512_and_si512(a, m6), mn_lo = _mm512_and_si512(b, m6);
            const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(c, m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(a, 6), m2), 4));
            const __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), m4),
                                                  _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b, 6), m2), 4));
            for (int j = 0; j < 4; j++) {
                sc[j] = lane_byte(sc_lo, j, 0);
                sc[4 + j] = lane_byte(sc_hi, j, 0);
            }
            for (int q = 0; q < 4; q++) {             /* mins pairs (2q, 2q+1) */
                const __m512i mw = q < 2 ? mn_lo : mn_hi;
                const int j = 2 * (q % 2);
                _mm512_store_si512(P->mins + (i * 4 + q) * PR,
                                   _mm512_or_si512(lane_byte(mw, j, 0), _mm512_slli_epi32(lane_byte(mw, j + 1, 0), 16)));
            }
            for (int j = 0; j < 8; j++) {
                const __m512i s32 = _mm512_add_epi32(_mm512_load_si512(ws + 2 * j * PR), _mm512_load_si512(ws + (2 * j + 1) * PR));
                corr = _mm512_add_epi32(corr, _mm512_mullo_epi32(sc[j], s32));
            }
            for (int j = 8; j < 17; j++) sc[j] = _mm512_setzero_si512();
            _mm512_store_ps(P->d + i * PR, lane_half(dd, 0));
            _mm512_store_ps(P->dmin + i * PR, lane_half(dd, 1));
        } else {
            for (int w4 = 0; w4 < 4; w4++) {          /* 16 signed scales, 4 per gather */
                const __m512i s = _mm512_i32gather_epi32(idx, base + offsetof(blk_q6_k, scales) + 4 * w4, 1);
                for (int j = 0; j < 4; j++) sc[4 * w4 + j] = lane_byte(s, j, 1);
            }
            sc[16] = _mm512_setzero_si512();
            for (int j = 0; j < 16; j++) corr = _mm512_add_epi32(corr, _mm512_mullo_epi32(sc[j], _mm512_load_si512(ws + j * PR)));
            /* d is the block's last 2 bytes: read the word ending there */
            _mm512_store_ps(P->d + i * PR, lane_half(_mm512_i32gather_epi32(idx, base + offsetof(blk_q6_k, d) - 2, 1), 1));
        }
        /* int32 wraps harmlessly here: every sum this term joins is exact mod 2^32 */
        _mm512_store_si512(P->corr + i * PR, _mm512_mullo_epi32(corr, _mm512_set1_epi32(-128)));
        for (int j = 0; j < 16; j++) _mm512_store_si512(P->dsc + (i * 16 + j) * PR, _mm512_sub_epi32(sc[j], sc[j + 1]));
    }
}

/* Decode k values of weight rows rows[0..PR) (a short panel repeats its last row). */
T_VNNI static void panel_fill(int type, const uint8_t *const rows[PR], size_t k, panel_t *P) {
    const size_t nb = k / mg_quant_block_size(type), chunks = (k + 63) / 64;
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t t = 0; t < chunks; t++) {
        __m512i v[PR];
        UNROLL for (int r = 0; r < PR; r++) {
            /* the rows are 16 streams from DRAM: more than the hardware prefetcher follows */
            _mm_prefetch((const char *)rows[r] + (t * 64 + 256) * mg_quant_block_bytes(type) / mg_quant_block_size(type), _MM_HINT_T0);
            v[r] = values64(type, rows[r], t, nb);
        }
        transpose16_epi32(v);
        UNROLL for (int j = 0; j < PR; j++) _mm512_store_si512(P->q + (16 * t + j) * 64, v[j]);
        UNROLL for (int i = 0; i < 4; i++) {      /* per-row sums of 16 values: vpdpbusd with 1s adds 4 bytes per lane */
            __m512i s = _mm512_setzero_si512();
            UNROLL for (int j = 4 * i; j < 4 * i + 4; j++) s = _mm512_dpbusd_epi32(s, ones, v[j]);
            _mm512_store_si512(P->wsum + (4 * t + i) * PR, s);
        }
    }
    panel_scales(type, rows, k, P);
}

/* Interleave k values of activation rows a[0..nc) (row stride as) into one act_t group, rows past nc zero.
 * Q8_0 rows: d per 32-value block.  Q8_K rows: d per super-block and int16 pairs of 32-value bsums. */
static void act_interleave(int q32, const uint8_t *a, size_t as, size_t nc, size_t k,
                           int32_t *q, float *d, int32_t *bs) {
    for (size_t c = 0; c < GEMM_NC; c++) {
        const uint8_t *row = a + c * as;
        if (q32) {
            for (size_t b = 0; b < k / QB; b++) {
                const blk_q8_0 *ab = (const blk_q8_0 *)row + b;
                for (size_t g = 0; g < QB / 4; g++)
                    q[(b * (QB / 4) + g) * GEMM_NC + c] = c < nc ? (int32_t)((uint32_t)load_i32(ab->qs + 4 * g) ^ 0x80808080u) : 0;
                d[b * GEMM_NC + c] = c < nc ? mg_fp16_to_fp32(ab->d) : 0.0f;
            }
            continue;
        }
        for (size_t i = 0; i < k / QKB; i++) {
            const blk_q8_k *ab = (const blk_q8_k *)row + i;
            for (size_t g = 0; g < QKB / 4; g++)
                q[(i * (QKB / 4) + g) * GEMM_NC + c] = c < nc ? (int32_t)((uint32_t)load_i32(ab->qs + 4 * g) ^ 0x80808080u) : 0;
            d[i * GEMM_NC + c] = c < nc ? ab->d : 0.0f;
            for (int p = 0; p < 4; p++) {             /* sub-blocks 2p, 2p+1: bsums 4p..4p+3 */
                const int s0 = c < nc ? ab->bsums[4 * p] + ab->bsums[4 * p + 1] : 0;
                const int s1 = c < nc ? ab->bsums[4 * p + 2] + ab->bsums[4 * p + 3] : 0;
                bs[(i * 4 + p) * GEMM_NC + c] = (int32_t)pair16(s0, s1);
            }
        }
    }
}

/* Output tile of NP x 16 weight rows by NC activation rows.  Slices after the
 * first add to y: y is loaded only at the end, after a prefetch at the start,
 * because y (m x n floats) lives beyond L2 and a load at the start would stall
 * retirement of the whole tile on a cache miss. */
T_VNNI INLINE void gemm_acc_begin(const int NP, const int NC, __m512 acc[][GEMM_NC], const float *y, size_t ldy, int add) {
    UNROLL for (int p = 0; p < NP; p++)
        UNROLL for (int c = 0; c < NC; c++) {
            if (add) _mm_prefetch((const char *)(y + c * ldy + p * PR), _MM_HINT_T0);
            acc[p][c] = _mm512_setzero_ps();
        }
}

T_VNNI INLINE void gemm_acc_end(const int NP, const int NC, __m512 acc[][GEMM_NC], float *y, size_t ldy,
                                const __mmask16 *rmask, int add) {
    UNROLL for (int p = 0; p < NP; p++)
        UNROLL for (int c = 0; c < NC; c++) {
            float *o = y + c * ldy + p * PR;
            _mm512_mask_storeu_ps(o, rmask[p], add ? _mm512_add_ps(acc[p][c], _mm512_maskz_loadu_ps(rmask[p], o)) : acc[p][c]);
        }
}

/* Q8_0/Q5_0 microkernel: NP panels x NC activation rows over nb blocks of 32. */
T_VNNI INLINE void q32_gemm_body(const int NP, const int NC, const panel_t *P, size_t nb, const act_t *A,
                                 float *y, size_t ldy, const __mmask16 *rmask, int add) {
    __m512 acc[GEMM_NP][GEMM_NC];
    gemm_acc_begin(NP, NC, acc, y, ldy, add);
    for (size_t b = 0; b < nb; b++) {
        __m512i s[GEMM_NP][GEMM_NC];
        UNROLL for (int p = 0; p < NP; p++) {
            const __m512i corr = _mm512_load_si512(P[p].corr + b * PR);
            UNROLL for (int c = 0; c < NC; c++) s[p][c] = corr;
        }
        UNROLL for (int g = 0; g < QB / 4; g++) {
            const size_t G = b * (QB / 4) + g;
            __m512i wv[GEMM_NP];
            UNROLL for (int p = 0; p < NP; p++) wv[p] = _mm512_load_si512(P[p].q + G * 64);
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512i x = _mm512_set1_epi32(A->q[G * GEMM_NC + c]);
                UNROLL for (int p = 0; p < NP; p++) s[p][c] = _mm512_dpbusd_epi32(s[p][c], x, wv[p]);
            }
        }
        UNROLL for (int p = 0; p < NP; p++) {
            const __m512 dw = _mm512_load_ps(P[p].d + b * PR);
            UNROLL for (int c = 0; c < NC; c++)
                acc[p][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[p][c]), _mm512_mul_ps(dw, _mm512_set1_ps(A->d[b * GEMM_NC + c])), acc[p][c]);
        }
    }
    gemm_acc_end(NP, NC, acc, y, ldy, rmask, add);
}

/* K-quant microkernel.  T accumulates the products of a whole super-block
 * without a reset per sub-block; after sub-block j, s1 += T * (sc[j] - sc[j+1])
 * telescopes to sum_j sc[j] * (sub-block j's sum).  int32 arithmetic wraps, so
 * intermediate overflow is harmless: the true total (|.| < 2^28) comes out
 * exactly.  Q4_K's mins have their own float scale dmin. */
T_VNNI INLINE void qk_gemm_body(const int Q6, const int NP, const int NC, const panel_t *P, size_t nsb,
                                const act_t *A, float *y, size_t ldy, const __mmask16 *rmask, int add) {
    const int SUB = Q6 ? 16 : 32;
    __m512 acc[GEMM_NP][GEMM_NC];
    gemm_acc_begin(NP, NC, acc, y, ldy, add);
    for (size_t i = 0; i < nsb; i++) {
        __m512i T[GEMM_NP][GEMM_NC], s1[GEMM_NP][GEMM_NC];
        UNROLL for (int p = 0; p < NP; p++) {
            const __m512i corr = _mm512_load_si512(P[p].corr + i * PR);
            UNROLL for (int c = 0; c < NC; c++) {
                T[p][c] = _mm512_setzero_si512();
                s1[p][c] = corr;
            }
        }
        for (int j = 0; j < QKB / SUB; j++) {
            UNROLL for (int g = 0; g < SUB / 4; g++) {
                const size_t G = i * (QKB / 4) + (size_t)j * (SUB / 4) + g;   /* group of 4 values in the slice */
                __m512i wv[GEMM_NP];
                UNROLL for (int p = 0; p < NP; p++) wv[p] = _mm512_load_si512(P[p].q + G * 64);
                UNROLL for (int c = 0; c < NC; c++) {
                    const __m512i x = _mm512_set1_epi32(A->q[G * GEMM_NC + c]);
                    UNROLL for (int p = 0; p < NP; p++) T[p][c] = _mm512_dpbusd_epi32(T[p][c], x, wv[p]);
                }
            }
            UNROLL for (int p = 0; p < NP; p++) {
                const __m512i ds = _mm512_load_si512(P[p].dsc + (i * 16 + j) * PR);
                UNROLL for (int c = 0; c < NC; c++) s1[p][c] = _mm512_add_epi32(s1[p][c], _mm512_mullo_epi32(T[p][c], ds));
            }
        }
        UNROLL for (int p = 0; p < NP; p++) {
            const __m512 d = _mm512_load_ps(P[p].d + i * PR);
            UNROLL for (int c = 0; c < NC; c++) {
                const __m512 da = _mm512_set1_ps(A->d[i * GEMM_NC + c]);
                __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(s1[p][c]), d);
                if (!Q6) {
                    __m512i s2 = _mm512_setzero_si512();
                    UNROLL for (int q = 0; q < 4; q++)
                        s2 = _mm512_dpwssd_epi32(s2, _mm512_load_si512(P[p].mins + (i * 4 + q) * PR),
                                                 _mm512_set1_epi32(A->bs[(i * 4 + q) * GEMM_NC + c]));
                    t = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(s2), _mm512_load_ps(P[p].dmin + i * PR), t);
                }
                acc[p][c] = _mm512_fmadd_ps(t, da, acc[p][c]);
            }
        }
    }
    gemm_acc_end(NP, NC, acc, y, ldy, rmask, add);
}

/* Instantiate a microkernel for 1 or GEMM_NP panels x 1..GEMM_NC activation rows (constant loop bounds keep
 * the accumulators in registers). */
#define GEMM_CASES(call, NP)                                                                    \
    case 1: call(NP, 1); break; case 2: call(NP, 2); break; case 3: call(NP, 3); break;         \
    default: call(NP, 4); break;
#define DEFINE_GEMM(name, call)                                                                 \
    T_VNNI static void name(int np, int nc, const panel_t *P, size_t nb, const act_t *A, float *y, \
                            size_t ldy, const __mmask16 *rmask, int add) {                      \
        if (np == 1) { switch (nc) { GEMM_CASES(call, 1) } }                                    \
        else { switch (nc) { GEMM_CASES(call, GEMM_NP) } }                                      \
    }
_Static_assert(GEMM_NC == 4 && GEMM_NP == 2, "GEMM_CASES instantiates 1..4 activation rows, 1 or 2 panels");
#define Q32_CALL(NP, NC) q32_gemm_body(NP, NC, P, nb, A, y, ldy, rmask, add)
#define Q4K_CALL(NP, NC) qk_gemm_body(0, NP, NC, P, nb, A, y, ldy, rmask, add)
#define Q6K_CALL(NP, NC) qk_gemm_body(1, NP, NC, P, nb, A, y, ldy, rmask, add)
DEFINE_GEMM(q32_gemm, Q32_CALL)
DEFINE_GEMM(q4_k_gemm, Q4K_CALL)
DEFINE_GEMM(q6_k_gemm, Q6K_CALL)

/* Carves 64-byte aligned arrays out of one allocation. */
static void *carve(uint8_t **p, size_t bytes) { void *r = *p; *p += (bytes + 63) / 64 * 64; return r; }

/*
 * Loop order: K slices outermost, sized so that the slice of all m activation
 * rows stays in L2; for each slice every weight panel of the row range is
 * decoded once (so each weight is decoded once per call) and then meets all
 * activation rows while its values sit in L1/L2.  Slices after the first add to y.
 * Returns 0 (nothing written) if the buffer cannot be allocated.
 */
T_VNNI static int gemm_vnni(int type, const uint8_t *w, size_t k, const uint8_t *a, size_t m,
                            size_t row_begin, size_t row_end, float *y, size_t ldy) {
    const int q32 = type == MG_TYPE_Q8_0 || type == MG_TYPE_Q5_0;
    const size_t bs = mg_quant_block_size(type), nb = k / bs;
    const size_t wbb = mg_quant_block_bytes(type), abb = mg_quant_block_bytes(mg_quant_activation_type(type));
    const size_t ws = nb * wbb, as = nb * abb, groups = (m + GEMM_NC - 1) / GEMM_NC;
    /* K slice: whole multiples of 256 values (also for Q8_0/Q5_0, so 64-value panel chunks never straddle slices) */
    size_t kc = GEMM_ACT_L2_BYTES / (groups * GEMM_NC) / QKB * QKB;
    if (kc < QKB) kc = QKB;
    if (kc > k) kc = k;
    const size_t bc = kc / bs, sbc = (kc + QKB - 1) / QKB;   /* blocks, super-blocks per slice */
    const size_t chunks = (kc + 63) / 64;                     /* panel_fill decodes 64 values at a time */
    /* sizes of the arrays carved below, each a multiple of 64 bytes (PR int32 = 64 bytes) */
    const size_t panel_bytes = chunks * 64 * PR + 4 * PR * (4 * chunks + 2 * bc + (1 + 16 + 4) * sbc);
    const size_t act_bytes = groups * GEMM_NC * (kc + 4 * bc + 16 * sbc) + 3 * 64;
    uint8_t *buf = malloc(GEMM_NP * panel_bytes + act_bytes + 64), *p;
    if (!buf) return 0;
    p = (uint8_t *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    panel_t P[GEMM_NP];
    for (int i = 0; i < GEMM_NP; i++) {
        P[i].q = carve(&p, chunks * 64 * PR);
        P[i].wsum = carve(&p, 4 * 4 * chunks * PR);
        P[i].corr = carve(&p, 4 * bc * PR);
        P[i].d = carve(&p, 4 * bc * PR);
        P[i].dmin = carve(&p, 4 * sbc * PR);
        P[i].dsc = carve(&p, 4 * 16 * sbc * PR);
        P[i].mins = carve(&p, 4 * 4 * sbc * PR);
    }
    int32_t *aq = carve(&p, kc * GEMM_NC * groups);
    float *ad = carve(&p, 4 * bc * GEMM_NC * groups);
    int32_t *apair = carve(&p, 4 * 4 * sbc * GEMM_NC * groups);

    for (size_t k0 = 0; k0 < k; k0 += kc) {
        const size_t kn = k - k0 < kc ? k - k0 : kc, b0 = k0 / bs, nbs = kn / bs;   /* this slice */
        const size_t sbn = (kn + QKB - 1) / QKB;
        const int add = k0 > 0;
        for (size_t gi = 0; gi < groups; gi++) {
            const size_t c = gi * GEMM_NC;
            act_interleave(q32, a + c * as + b0 * abb, as, m - c < GEMM_NC ? m - c : GEMM_NC, kn,
                           aq + gi * (kn / 4) * GEMM_NC, ad + gi * nbs * GEMM_NC, apair + gi * sbn * 4 * GEMM_NC);
        }
        for (size_t row = row_begin; row < row_end; row += GEMM_NP * PR) {
            const size_t left = row_end - row;
            const int np = left > PR ? GEMM_NP : 1;
            __mmask16 rmask[GEMM_NP];
            for (int i = 0; i < np; i++) {
                const size_t first = row + (size_t)i * PR;
                const int nr = left - (size_t)i * PR < PR ? (int)(left - (size_t)i * PR) : PR;
                const uint8_t *rows[PR];
                for (int r = 0; r < PR; r++) rows[r] = w + (first + (size_t)(r < nr ? r : nr - 1)) * ws + b0 * wbb;
                panel_fill(type, rows, kn, &P[i]);
                rmask[i] = (__mmask16)((1u << nr) - 1u);
            }
            for (size_t gi = 0; gi < groups; gi++) {
                const size_t c = gi * GEMM_NC;
                const int nc = m - c < GEMM_NC ? (int)(m - c) : GEMM_NC;
                const act_t A = {aq + gi * (kn / 4) * GEMM_NC, ad + gi * nbs * GEMM_NC, apair + gi * sbn * 4 * GEMM_NC};
                float *yc = y + c * ldy + row;
                switch (type) {
                case MG_TYPE_Q4_K: q4_k_gemm(np, nc, P, nbs, &A, yc, ldy, rmask, add); break;
                case MG_TYPE_Q6_K: q6_k_gemm(np, nc, P, nbs, &A, yc, ldy, rmask, add); break;
                default: q32_gemm(np, nc, P, nbs, &A, yc, ldy, rmask, add); break;
                }
            }
        }
    }
    free(buf);
    return 1;
}

/* ---------------- vectorized activation quantizers (AVX2) ---------------- */

/* roundf (half away from zero) of 8 floats, exact for |v| < 2^23 */
T_AVX2 INLINE __m256i round_away_avx2(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(v, t);          /* exact fractional part */
    const __m256 up = _mm256_and_ps(_mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ), _mm256_set1_ps(1.0f));
    const __m256 dn = _mm256_and_ps(_mm256_cmp_ps(f, _mm256_set1_ps(-0.5f), _CMP_LE_OQ), _mm256_set1_ps(1.0f));
    return _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_add_ps(t, up), dn));
}

/* Pack 32 int32 (in four registers, in order) to 32 int8. */
T_AVX2 INLINE __m256i pack32_avx2(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i p = _mm256_packs_epi16(ab, cd);  /* lanes interleaved by 128-bit halves */
    return _mm256_permutevar8x32_epi32(p, _mm256_set_epi32(7, 3, 6, 2, 5, 1, 4, 0));
}

/* Largest |x| over n floats (n a multiple of 8), or NaN if any is NaN (max_ps alone would drop it). */
T_AVX2 INLINE float amax_avx2(const float *x, int n) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    for (int k = 0; k < n; k += 8) {
        const __m256 v = _mm256_loadu_ps(x + k);
        m = _mm256_max_ps(m, _mm256_and_ps(v, absmask));
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm256_movemask_ps(nan) ? NAN : _mm_cvtss_f32(m4);
}

/* Blocks whose scale is not a normal float (inf/NaN input, subnormal amax)
 * take the scalar path, which reproduces ggml's results there exactly. */
T_AVX2 static void quantize_q8_0_avx2(const float *x, blk_q8_0 *y, size_t nb) {
    for (size_t b = 0; b < nb; b++, x += QB) {
        const float d = amax_avx2(x, QB) / 127;
        if (d != 0 && !(d >= 0x1p-126f && d <= 0x1.fffffep127f)) {
            q8_0_block(x, &y[b]);
            continue;
        }
        const float id = d ? 1.0f / d : 0.0f;
        y[b].d = mg_fp32_to_fp16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        UNROLL for (int k = 0; k < 4; k++) q[k] = round_away_avx2(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
        _mm256_storeu_si256((__m256i *)y[b].qs, pack32_avx2(q[0], q[1], q[2], q[3]));
    }
}

T_AVX2 static void quantize_q8_k_avx2(const float *x, blk_q8_k *y, size_t nb) {
    for (size_t b = 0; b < nb; b++, x += QKB) {
        const float amax = amax_avx2(x, QKB);
        if (!amax) { memset(&y[b], 0, sizeof(y[b])); continue; }
        int j = 0;                                 /* the first element of largest magnitude sets the sign */
        while (j < QKB && fabsf(x[j]) != amax) j++;
        const float iscale = j < QKB ? -127.f / x[j] : 0.0f;
        if (j == QKB || !(amax <= 0x1.fffffep127f) || !(fabsf(iscale) <= 0x1.fffffep127f)) {
            q8_k_block(x, &y[b]);
            continue;
        }
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i hi = _mm256_set1_epi32(127);
        UNROLL for (int k = 0; k < QKB; k += 32) {
            __m256i q[4];
            UNROLL for (int t = 0; t < 4; t++)  /* cvtps rounds to nearest even, like round_magic */
                q[t] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * t), vs)), hi);
            const __m256i p = pack32_avx2(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[b].qs + k), p);
            /* two 16-value sums: int32 lanes 0-3 hold the first 16 values, 4-7 the second */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            y[b].bsums[k / 16] = (int16_t)_mm256_extract_epi32(s, 0);
            y[b].bsums[k / 16 + 1] = (int16_t)_mm256_extract_epi32(s, 4);
        }
        y[b].d = 1 / iscale;
    }
}

#endif /* MG_X86 */

/* ------------------------------------------------------------------------- */
/* Dispatch                                                                  */
/* ------------------------------------------------------------------------- */

typedef struct { tile_fn fn; int rmax; } kernel_t;

static kernel_t kernel_for(int type, int level) {
#if MG_X86
    if (level >= 2) {
        switch (type) {
        case MG_TYPE_Q8_0: return (kernel_t){q8_0_tile_vnni, 4};
        case MG_TYPE_Q5_0: return (kernel_t){q5_0_tile_vnni, 4};
        case MG_TYPE_Q4_K: return (kernel_t){q4_k_tile_vnni, 2};
        case MG_TYPE_Q6_K: return (kernel_t){q6_k_tile_vnni, 2};
        }
    }
    if (level >= 1) {
        switch (type) {
        case MG_TYPE_Q8_0: return (kernel_t){q8_0_tile_avx2, 2};
        case MG_TYPE_Q5_0: return (kernel_t){q5_0_tile_avx2, 2};
        case MG_TYPE_Q4_K: return (kernel_t){q4_k_tile_avx2, 1};
        case MG_TYPE_Q6_K: return (kernel_t){q6_k_tile_avx2, 1};
        }
    }
#else
    (void)level;
#endif
    switch (type) {
    case MG_TYPE_Q8_0: return (kernel_t){q8_0_tile_scalar, 1};
    case MG_TYPE_Q5_0: return (kernel_t){q5_0_tile_scalar, 1};
    case MG_TYPE_Q4_K: return (kernel_t){q4_k_tile_scalar, 1};
    case MG_TYPE_Q6_K: return (kernel_t){q6_k_tile_scalar, 1};
    }
    return (kernel_t){0, 0};
}

/* Bytes of quantized activation rows kept in L2 while the weight rows pass (half of Zen 4's 1 MB L2). */
enum { ACTIVATION_BLOCK_BYTES = 512 * 1024 };

void mg_quant_rows_dot(int type, const void *w, size_t k, const void *a_rows, size_t m,
                       size_t row_begin, size_t row_end, float *y, size_t ldy) {
    const int level = mg_quant_level();
    const kernel_t kn = kernel_for(type, level);
    if (!kn.fn || m == 0 || row_begin >= row_end) return;
#if MG_X86
    /* prefill: a real int8 GEMM (falls back to the tiles if its buffer cannot be allocated) */
    if (level >= 2 && m >= GEMM_MIN_M && gemm_vnni(type, w, k, a_rows, m, row_begin, row_end, y, ldy)) return;
    /* decode and short prompts: the K-quant GEMV */
    if (level >= 2 && m < GEMM_MIN_M && gemv_vnni(type, w, k, a_rows, m, row_begin, row_end, y, ldy)) return;
#endif
    const size_t nb = k / mg_quant_block_size(type);
    const size_t ws = mg_quant_row_bytes(type, k);
    const size_t as = mg_quant_row_bytes(mg_quant_activation_type(type), k);
    const uint8_t *w8 = w, *a8 = a_rows;
    /* Activation rows in blocks that stay in L2 (a prompt's 512 rows of 4096 values are ~2.4 MB of Q8_K, which
     * every weight tile would otherwise stream again from L3); within a block, weight rows outermost: a tile of
     * weight rows stays in L1 while the block's activation rows pass it.  m == 1 streams one row at a time. */
    const size_t block = as * 4 >= ACTIVATION_BLOCK_BYTES ? 4 : ACTIVATION_BLOCK_BYTES / as / 4 * 4;
    for (size_t c0 = 0; c0 < m; c0 += block) {
        const size_t c1 = m - c0 < block ? m : c0 + block;
        for (size_t row = row_begin; row < row_end;) {
            const int nr = (m > 1 && row_end - row >= (size_t)kn.rmax) ? kn.rmax : 1;
            for (size_t c = c0; c < c1; c += 4) {
                const int nc = c1 - c < 4 ? (int)(c1 - c) : 4;
                kn.fn(w8 + row * ws, ws, a8 + c * as, as, nb, nr, nc, y + c * ldy + row, ldy);
            }
            row += (size_t)nr;
        }
    }
}

static float dot_one(int type, const void *w, const void *a, size_t n) {
    float r = 0.0f;
    mg_quant_rows_dot(type, w, n, a, 1, 0, 1, &r, 1);
    return r;
}

float mg_dot_q8_0_q8_0(const void *w, const void *a, size_t n) { return dot_one(MG_TYPE_Q8_0, w, a, n); }
float mg_dot_q5_0_q8_0(const void *w, const void *a, size_t n) { return dot_one(MG_TYPE_Q5_0, w, a, n); }
float mg_dot_q4_k_q8_k(const void *w, const void *a, size_t n) { return dot_one(MG_TYPE_Q4_K, w, a, n); }
float mg_dot_q6_k_q8_k(const void *w, const void *a, size_t n) { return dot_one(MG_TYPE_Q6_K, w, a, n); }

void mg_quantize_row_q8_0_act(const float *x, void *out, size_t n) {
#if MG_X86
    if (mg_quant_level() >= 1) { quantize_q8_0_avx2(x, out, n / QB); return; }
#endif
    mg_quantize_q8_0(x, out, n);
}

void mg_quantize_row_q8_k(const float *x, void *out, size_t n) {
#if MG_X86
    if (mg_quant_level() >= 1) { quantize_q8_k_avx2(x, out, n / QKB); return; }
#endif
    blk_q8_k *y = out;
    for (size_t b = 0; b < n / QKB; b++) q8_k_block(x + b * QKB, &y[b]);
}

/* ------------------------------------------------------------------------- */
/* Entry points by type id                                                   */
/* ------------------------------------------------------------------------- */

void mg_quantize(int type, const float *x, void *out, size_t n) {
    switch (type) {
    case MG_TYPE_Q8_0: mg_quantize_q8_0(x, out, n); break;
    case MG_TYPE_Q5_0: mg_quantize_q5_0(x, out, n); break;
    case MG_TYPE_Q4_K: mg_quantize_q4_k(x, out, n); break;
    case MG_TYPE_Q6_K: mg_quantize_q6_k(x, out, n); break;
    case MG_TYPE_Q8_K: mg_quantize_row_q8_k(x, out, n); break;
    default: break;
    }
}

void mg_dequantize(int type, const void *blocks, float *y, size_t n) {
    switch (type) {
    case MG_TYPE_Q8_0: mg_dequantize_q8_0(blocks, y, n); break;
    case MG_TYPE_Q5_0: mg_dequantize_q5_0(blocks, y, n); break;
    case MG_TYPE_Q4_K: mg_dequantize_q4_k(blocks, y, n); break;
    case MG_TYPE_Q6_K: mg_dequantize_q6_k(blocks, y, n); break;
    case MG_TYPE_Q8_K: {                           /* as ggml's dequantize_row_q8_K */
        const blk_q8_k *b = blocks;
        for (size_t i = 0; i < n / QKB; i++)
            for (int j = 0; j < QKB; j++) *y++ = b[i].d * b[i].qs[j];
        break;
    }
    default: break;
    }
}

void mg_quantize_activation(int activation_type, const float *x, void *out, size_t k) {
    if (activation_type == MG_TYPE_Q8_0) mg_quantize_row_q8_0_act(x, out, k);
    else if (activation_type == MG_TYPE_Q8_K) mg_quantize_row_q8_k(x, out, k);
}
