// UTF-8 helpers shared by the tokenizers. The hot loops work on UTF-8 bytes, so decoding a scalar at a byte offset is
// done here by hand instead of through String indices.

/// Whole texts are validated by `UTF8Text` (MGJSON); this decodes one scalar at a time for the hot loops.
enum UTF8Validation {
    /// Decodes the scalar starting at `i` with strict rules (no overlongs, no surrogates, ≤ U+10FFFF). Returns its
    /// value and byte length, or nil when the bytes at `i` do not start a valid sequence. This is the rule of both
    /// sentencepiece's `DecodeUTF8` and Rust's `String::from_utf8`.
    @inline(__always)
    static func decode(_ p: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> (value: UInt32, length: Int)? {
        let b0 = UInt32(p[i])
        if b0 < 0x80 { return (b0, 1) }
        let remaining = end - i
        if b0 & 0xE0 == 0xC0 {
            guard remaining >= 2 else { return nil }
            let b1 = UInt32(p[i + 1])
            guard b1 & 0xC0 == 0x80 else { return nil }
            let value = (b0 & 0x1F) << 6 | (b1 & 0x3F)
            return value >= 0x80 ? (value, 2) : nil
        }
        if b0 & 0xF0 == 0xE0 {
            guard remaining >= 3 else { return nil }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2])
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 else { return nil }
            let value = (b0 & 0x0F) << 12 | (b1 & 0x3F) << 6 | (b2 & 0x3F)
            return value >= 0x800 && !(0xD800...0xDFFF).contains(value) ? (value, 3) : nil
        }
        if b0 & 0xF8 == 0xF0 {
            guard remaining >= 4 else { return nil }
            let b1 = UInt32(p[i + 1]), b2 = UInt32(p[i + 2]), b3 = UInt32(p[i + 3])
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return nil }
            let value = (b0 & 0x07) << 18 | (b1 & 0x3F) << 12 | (b2 & 0x3F) << 6 | (b3 & 0x3F)
            return value >= 0x10000 && value <= 0x10FFFF ? (value, 4) : nil
        }
        return nil
    }
}

/// Decodes the scalar at byte offset `i` of text that is known to be valid UTF-8 (it came from a Swift String).
@inline(__always)
func scalarAt(_ p: UnsafeBufferPointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F), 2) }
    if b0 < 0xF0 {
        return ((b0 & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F), 3)
    }
    return (
        (b0 & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6
            | UInt32(p[i + 3] & 0x3F), 4
    )
}

/// Start of the scalar that ends right before byte offset `i` (valid UTF-8 assumed).
@inline(__always)
func scalarStart(before i: Int, in p: UnsafeBufferPointer<UInt8>) -> Int {
    var j = i - 1
    while j > 0 && p[j] & 0xC0 == 0x80 { j -= 1 }
    return j
}

/// UTF-8 encoding of one scalar, appended to `out`.
@inline(__always)
func appendUTF8(_ value: UInt32, to out: inout [UInt8]) {
    if value < 0x80 {
        out.append(UInt8(value))
    } else if value < 0x800 {
        out.append(UInt8(0xC0 | value >> 6))
        out.append(UInt8(0x80 | value & 0x3F))
    } else if value < 0x10000 {
        out.append(UInt8(0xE0 | value >> 12))
        out.append(UInt8(0x80 | (value >> 6) & 0x3F))
        out.append(UInt8(0x80 | value & 0x3F))
    } else {
        out.append(UInt8(0xF0 | value >> 18))
        out.append(UInt8(0x80 | (value >> 12) & 0x3F))
        out.append(UInt8(0x80 | (value >> 6) & 0x3F))
        out.append(UInt8(0x80 | value & 0x3F))
    }
}

/// "▁" (U+2581), the SentencePiece / Metaspace stand-in for a space.
let metaspaceBytes: [UInt8] = [0xE2, 0x96, 0x81]
let metaspaceScalar: UInt32 = 0x2581

extension UnsafeBufferPointer where Element == UInt8 {
    /// Whether the bytes at `i` are "▁".
    @inline(__always)
    func hasMetaspace(at i: Int, end: Int) -> Bool {
        i + 2 < end && self[i] == 0xE2 && self[i + 1] == 0x96 && self[i + 2] == 0x81
    }
}
