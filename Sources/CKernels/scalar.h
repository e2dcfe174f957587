// Scalar helpers shared by the kernels (private to CKernels): bit casts, 16-bit float conversions, and MGTensor's
// fastExp. Static inline, so each kernel file compiles them for its own targets.
#ifndef MGLLAVA_CKERNELS_SCALAR_H
#define MGLLAVA_CKERNELS_SCALAR_H

#include <stdint.h>
#include <string.h>

static inline uint32_t float_bits(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }
static inline float bits_float(uint32_t u) { float v; memcpy(&v, &u, 4); return v; }

static inline float bf16_to_f32(uint16_t h) { return bits_float((uint32_t)h << 16); }

// IEEE half → float, exact for normals, subnormals, infinities and NaNs (no F16C needed).
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return bits_float(sign);
        int e = -1;  // subnormal: normalise
        do { man <<= 1; e++; } while (!(man & 0x400));
        return bits_float(sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13);
    }
    if (exp == 31) return bits_float(sign | 0x7f800000u | man << 13);
    return bits_float(sign | (exp + 127 - 15) << 23 | man << 13);
}

// float → bf16, rounded to nearest even; a NaN stays a (quiet) NaN.
static inline uint16_t f32_to_bf16_rne(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

// float → IEEE half, rounded to nearest even: overflow to ±∞ (from 65520 up), subnormal halves below 2^-14, NaN to a
// quiet NaN. The same result as F16C's vcvtps2ph with round-to-nearest (F. Giesen's float_to_half_fast3_rtne).
static inline uint16_t f32_to_f16_rne(float f) {
    uint32_t u = float_bits(f), sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= (uint32_t)(127 + 16) << 23) {
        o = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < (uint32_t)113 << 23) {
        // Below the smallest normal half: adding 0.5 (as a float with the right exponent) rounds the mantissa.
        const float magic = bits_float((uint32_t)((127 - 15) + (23 - 10) + 1) << 23);
        o = (uint16_t)(float_bits(bits_float(u) + magic) - float_bits(magic));
    } else {
        uint32_t odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

// exp(x), MGTensor's `fastExp` operation for operation (bit for bit: no fused multiply-adds): Cody–Waite reduction
// x = n·ln2 + r and the Cephes expf polynomial (relative error < 2 ulp on [-87, 88]); below −87.3 (−∞ included)
// exactly 0. n is rounded with the 1.5·2^23 trick, so no libm call.
static inline float fast_exp(float x) {
#pragma clang fp contract(off)
    float safe = x < 88.3f ? x : 88.3f;
    safe = safe > -87.3f ? safe : -87.3f;
    const float magic = 12582912.0f;
    float t = safe * 1.44269504f + magic;
    float n = t - magic;
    int32_t ni = (int32_t)(float_bits(t) - float_bits(magic));
    float r = (safe - n * 0.693359375f) - n * -2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.39819995e-3f;
    p = p * r + 8.3334519e-3f;
    p = p * r + 4.1665796e-2f;
    p = p * r + 1.66666655e-1f;
    p = p * r + 5.0000001e-1f;
    float e = p * r * r + r + 1.0f;
    float scale = bits_float((uint32_t)(ni + 127) << 23);
    return x < -87.3f ? 0.0f : e * scale;
}

#endif
