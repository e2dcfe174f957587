// Element types. Compute is always Float32; the 16-bit floats are storage types (checkpoints, memory-mapped
// weights) widened by the kernels that read them. Integer and bool types carry ids, masks and labels.

/// A tensor's element type, named as safetensors names it (the block-quantized types as GGUF names them).
///
/// The block-quantized types (`q8_0`, `q5_0`, `q4_K`, `q6_K`) are ggml's: a row is stored as blocks of
/// `blockSize` values in `blockBytes` bytes each (a scale and small integers), byte for byte as llama.cpp stores
/// them. They are storage types for inference weights only: the last dimension is a multiple of `blockSize`,
/// products read them through the quantized kernels, and any other op sees them dequantized.
public enum DType: String, Sendable, CaseIterable, Codable {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"
    case uint8 = "U8"
    case bool = "BOOL"
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// ggml Q8_0: 32 values as an f16 scale and 32 int8 (34 bytes, 8.5 bits per value).
    case q8_0 = "Q8_0"
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// ggml Q5_0: 32 values as an f16 scale and 32 five-bit integers (22 bytes).
    case q5_0 = "Q5_0"
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// ggml Q4_K: 256 values in 8 sub-blocks of 32, 4-bit values with 6-bit sub-block scales and mins (144 bytes).
    case q4_K = "Q4_K"
    // swift-format-ignore: AlwaysUseLowerCamelCase
    /// ggml Q6_K: 256 values in 16 sub-blocks of 16, 6-bit values with int8 sub-block scales (210 bytes).
    case q6_K = "Q6_K"

    /// Bytes per element; for a block-quantized type, bytes per block (see `blockBytes`).
    @inlinable public var size: Int { blockBytes }

    /// Values per block: 1 for the element types.
    @inlinable public var blockSize: Int {
        switch self {
        case .q8_0, .q5_0: return 32
        case .q4_K, .q6_K: return 256
        default: return 1
        }
    }

    /// Bytes per block (per element for the element types).
    @inlinable public var blockBytes: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int64: return 8
        case .uint8, .bool: return 1
        case .q8_0: return 34
        case .q5_0: return 22
        case .q4_K: return 144
        case .q6_K: return 210
        }
    }

    /// True for ggml's block-quantized types.
    @inlinable public var isBlockQuantized: Bool { blockSize > 1 }

    /// Bytes that `count` values take (`count` a multiple of `blockSize`).
    @inlinable public func byteCount(for count: Int) -> Int { count / blockSize * blockBytes }

    /// Values that `bytes` hold.
    @inlinable public func valueCount(bytes: Int) -> Int { bytes / blockBytes * blockSize }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .q8_0, .q5_0, .q4_K, .q6_K: return true
        default: return false
        }
    }
}

// MARK: - 16-bit float conversions (bit-exact with PyTorch: round-to-nearest-even, NaN kept quiet)

@inlinable @inline(__always)
public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

@inlinable @inline(__always)
public func floatToBF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
    // Round to nearest even on the 16 dropped bits.
    let rounding: UInt32 = 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

@inlinable @inline(__always)
public func f16ToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        if mantissa == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = mantissa * 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

@inlinable @inline(__always)
public func floatToF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    var mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {  // Inf or NaN
        return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0)
    }
    let unbiased = exponent - 127
    if unbiased > 15 { return sign | 0x7C00 }  // overflow to infinity
    if unbiased >= -14 {
        // Normal half: keep 10 mantissa bits, round to nearest even.
        var half = UInt32(unbiased + 15) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 }
        return sign | UInt16(truncatingIfNeeded: half)
    }
    if unbiased < -25 { return sign }  // underflow to zero
    // Subnormal half: shift the implicit bit in, round to nearest even.
    mantissa |= 0x80_0000
    let shift = UInt32(-unbiased - 14 + 13)
    var half = mantissa >> shift
    let rest = mantissa & ((1 << shift) - 1)
    let halfway: UInt32 = 1 << (shift - 1)
    if rest > halfway || (rest == halfway && (half & 1) == 1) { half += 1 }
    return sign | UInt16(truncatingIfNeeded: half)
}
