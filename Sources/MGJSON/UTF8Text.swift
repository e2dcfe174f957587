import Foundation

/// Strict UTF-8 validation with byte offsets, and the line and column of an offset, for every reader of text files
/// (JSON, TSV, pickle strings, zip entry names).
///
/// Valid means well-formed per Unicode's table 3-7, the rule of Python's `bytes.decode('utf-8')`, Rust's
/// `str::from_utf8` and Swift's `UTF8` decoder: no overlong forms (C0, C1, E0 80..9F, F0 80..8F), no UTF-16
/// surrogates (ED A0..BF), nothing above U+10FFFF (F4 90..BF, F5..FF), no lone continuation bytes and no sequence
/// cut short. The offset reported is that of the first byte of the first ill-formed sequence (Python's
/// `UnicodeDecodeError.start`).
///
/// Written for debug builds too (checkpoint tests validate 100,000 headers at -Onone): raw pointer reads with
/// explicit bounds checks and plain comparisons.
public enum UTF8Text {
    /// The offset of the first byte of the first ill-formed sequence, or nil when all of `buffer` is valid UTF-8.
    public static func firstInvalidOffset(in buffer: UnsafeRawBufferPointer) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let n = buffer.count
        /// Whether bytes[j] exists and lies in low...high.
        func byte(_ j: Int, in low: UInt8, _ high: UInt8) -> Bool {
            j < n && bytes[j] >= low && bytes[j] <= high
        }
        var i = 0
        while i < n {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
            } else if lead >= 0xC2 && lead <= 0xDF {
                guard byte(i + 1, in: 0x80, 0xBF) else { return i }
                i += 2
            } else if lead >= 0xE0 && lead <= 0xEF {
                // E0 needs A0..BF next (no overlongs); ED needs 80..9F (no surrogates).
                let low: UInt8 = lead == 0xE0 ? 0xA0 : 0x80
                let high: UInt8 = lead == 0xED ? 0x9F : 0xBF
                guard byte(i + 1, in: low, high), byte(i + 2, in: 0x80, 0xBF) else { return i }
                i += 3
            } else if lead >= 0xF0 && lead <= 0xF4 {
                // F0 needs 90..BF (no overlongs); F4 needs 80..8F (nothing above U+10FFFF).
                let low: UInt8 = lead == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = lead == 0xF4 ? 0x8F : 0xBF
                guard byte(i + 1, in: low, high), byte(i + 2, in: 0x80, 0xBF), byte(i + 3, in: 0x80, 0xBF) else {
                    return i
                }
                i += 4
            } else {
                return i  // a continuation byte without a lead, C0/C1 (overlong), F5..FF
            }
        }
        return nil
    }

    /// The offset of the first ill-formed sequence of `data`, or nil when it is valid UTF-8.
    public static func firstInvalidOffset(in data: Data) -> Int? {
        data.withUnsafeBytes { firstInvalidOffset(in: $0) }
    }

    /// The offset (from the collection's start, not its first index) of the first ill-formed sequence of `bytes`,
    /// or nil when they are valid UTF-8.
    public static func firstInvalidOffset<C: Collection>(in bytes: C) -> Int? where C.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ firstInvalidOffset(in: UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { firstInvalidOffset(in: $0) }
    }

    /// Whether all of `buffer` is valid UTF-8.
    public static func isValid(_ buffer: UnsafeRawBufferPointer) -> Bool { firstInvalidOffset(in: buffer) == nil }

    /// Whether all of `bytes` are valid UTF-8.
    public static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        firstInvalidOffset(in: bytes) == nil
    }

    /// 1-based line and column of byte `offset` (clamped to the text): lines end at LF, and the column counts
    /// characters, so a tab or an "é" is one column.
    public static func lineColumn(of offset: Int, in buffer: UnsafeRawBufferPointer) -> (line: Int, column: Int) {
        let end = min(max(offset, 0), buffer.count)
        var line = 1, lineStart = 0
        for i in 0..<end where buffer[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let prefix = UnsafeRawBufferPointer(rebasing: buffer[lineStart..<end])
        return (line, String(decoding: prefix, as: UTF8.self).count + 1)
    }

    /// 1-based line and column of byte `offset` of `data`; see `lineColumn(of:in:)` for buffers.
    public static func lineColumn(of offset: Int, in data: Data) -> (line: Int, column: Int) {
        data.withUnsafeBytes { lineColumn(of: offset, in: $0) }
    }
}
