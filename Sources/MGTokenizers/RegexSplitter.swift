import Foundation

/// Finds the matches of a `Split` pre-tokenizer pattern in a piece of text (byte ranges, in order, non-overlapping).
/// The GPT-2 and Llama-3 / Qwen-2 patterns are hand-compiled into scanners over UTF-8 bytes that reproduce
/// Oniguruma's leftmost-first backtracking results; any other regex goes through NSRegularExpression (ICU).
enum RegexSplitter {
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3(maxDigits: Int)
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (GPT-2, ByteLevel use_regex).
    case gpt2
    /// `\s+`: the whitespace runs that CLIP's normalizer turns into one space (Oniguruma's `\s`, the Unicode
    /// White_Space scalars, as `UnicodeClasses` classifies them).
    case whitespaceRuns
    /// CLIP's `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`, in older files led by
    /// `<\|startoftext\|>|<\|endoftext\|>|` (`specialTokens`). Hand-compiled like the others so that `\p{L}` and
    /// `\p{N}` are the reference's classes, not the newer ones of the toolchain's ICU.
    case clip(specialTokens: Bool)
    case literal([UInt8])
    case foundation(NSRegularExpression)

    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let clipPattern = #"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#
    static let clipSpecialPrefix = #"<\|startoftext\|>|<\|endoftext\|>|"#
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// A splitter for a regex pattern; nil if NSRegularExpression rejects it.
    static func regex(_ pattern: String) -> RegexSplitter? {
        switch pattern {
        case llama3Pattern: return .llama3(maxDigits: 3)
        case qwen2Pattern: return .llama3(maxDigits: 1)
        case gpt2Pattern: return .gpt2
        case #"\s+"#: return .whitespaceRuns
        case clipPattern: return .clip(specialTokens: false)
        case clipSpecialPrefix + clipPattern: return .clip(specialTokens: true)
        default:
            guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
            return .foundation(regex)
        }
    }

    func matches(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        switch self {
        case .llama3(let maxDigits):
            var i = range.lowerBound
            while i < range.upperBound {
                let end = Self.matchLlama3(p, i, range.upperBound, maxDigits: maxDigits)
                out.append(i..<end)
                i = end
            }
        case .gpt2:
            var i = range.lowerBound
            while i < range.upperBound {
                let end = Self.matchGPT2(p, i, range.upperBound)
                out.append(i..<end)
                i = end
            }
        case .clip(let specialTokens):
            var i = range.lowerBound
            while i < range.upperBound {
                guard let end = Self.matchCLIP(p, i, range.upperBound, specialTokens: specialTokens) else {
                    i += scalarAt(p, i).length
                    continue
                }
                out.append(i..<end)
                i = end
            }
        case .whitespaceRuns:
            var i = range.lowerBound
            while i < range.upperBound {
                let (v, len) = scalarAt(p, i)
                guard UnicodeClasses.isWhitespace(v) else {
                    i += len
                    continue
                }
                let start = i
                i = Self.run(p, i, range.upperBound, .whitespace)
                out.append(start..<i)
            }
        case .literal(let needle):
            guard !needle.isEmpty else { return }
            var i = range.lowerBound
            while i + needle.count <= range.upperBound {
                var k = 0
                while k < needle.count && p[i + k] == needle[k] { k += 1 }
                if k == needle.count {
                    out.append(i..<(i + needle.count))
                    i += needle.count
                } else {
                    i += 1
                }
            }
        case .foundation(let regex):
            Self.foundationMatches(regex, p, range, into: &out)
        }
    }

    // MARK: - Character classes

    private static let asciiClasses: [ScalarClass] = (0..<128).map { UnicodeClasses.classify(UInt32($0)) }

    @inline(__always)
    private static func classOf(_ v: UInt32) -> ScalarClass {
        v < 128 ? asciiClasses[Int(v)] : UnicodeClasses.classify(v)
    }

    @inline(__always)
    private static func isNewline(_ v: UInt32) -> Bool { v == 0x0A || v == 0x0D }

    /// End of the run of scalars of class `c` starting at `i`, at most `limit` scalars.
    @inline(__always)
    private static func run(
        _ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ c: ScalarClass,
        limit: Int = Int.max
    ) -> Int {
        var j = i, n = 0
        while j < end && n < limit {
            let (v, len) = scalarAt(p, j)
            if classOf(v) != c { break }
            j += len
            n += 1
        }
        return j
    }

    /// Case-insensitive contraction letter as Oniguruma folds it (only ASCII, plus 'ſ' U+017F for 's').
    @inline(__always)
    private static func folded(_ v: UInt32) -> UInt32 {
        if v >= 0x41 && v <= 0x5A { return v + 0x20 }
        if v == 0x17F { return 0x73 }
        return v
    }

    /// Length of an `'s|'t|'re|'ve|'m|'ll|'d` match at `i` (which holds the apostrophe), or nil.
    @inline(__always)
    private static func contraction(
        _ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int,
        caseInsensitive: Bool
    ) -> Int? {
        let j = i + 1
        guard j < end else { return nil }
        let (raw1, len1) = scalarAt(p, j)
        let c1 = caseInsensitive ? folded(raw1) : raw1
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return j + len1  // s t m d
        case 0x72, 0x76, 0x6C:  // r v l: need e, e, l
            let k = j + len1
            guard k < end else { return nil }
            let (raw2, len2) = scalarAt(p, k)
            let c2 = caseInsensitive && raw2 < 0x80 ? folded(raw2) : raw2
            return c2 == (c1 == 0x6C ? 0x6C : 0x65) ? k + len2 : nil
        default: return nil
        }
    }

    /// End of the leftmost-first match of the Llama-3 pattern at `i` (every character starts some alternative).
    static func matchLlama3(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        let (c0, l0) = scalarAt(p, i)
        if c0 == 0x27, let e = contraction(p, i, end, caseInsensitive: true) { return e }
        let k0 = classOf(c0)
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if k0 == .letter { return run(p, i, end, .letter) }
        let next = i + l0
        if k0 != .number && !isNewline(c0) && next < end && classOf(scalarAt(p, next).value) == .letter {
            return run(p, next, end, .letter)
        }
        // \p{N}{1,maxDigits}
        if k0 == .number { return run(p, i, end, .number, limit: maxDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var start = -1
        if k0 == .other {
            start = i
        } else if c0 == 0x20 && next < end && classOf(scalarAt(p, next).value) == .other {
            start = next
        }
        if start >= 0 {
            var j = run(p, start, end, .other)
            while j < end && (p[j] == 0x0A || p[j] == 0x0D) { j += 1 }
            return j
        }
        // Whitespace: `\s*[\r\n]+`, then `\s+(?!\S)`, then `\s+`.
        var j = i, lastNewlineEnd = -1, lastStart = i, count = 0
        while j < end {
            let (v, len) = scalarAt(p, j)
            if classOf(v) != .whitespace { break }
            lastStart = j
            j += len
            count += 1
            if isNewline(v) { lastNewlineEnd = j }
        }
        if lastNewlineEnd >= 0 { return lastNewlineEnd }
        if j == end || count < 2 { return max(j, next) }
        return lastStart
    }

    private static let clipSpecials: [[UInt8]] = [Array("<|startoftext|>".utf8), Array("<|endoftext|>".utf8)]

    /// End of the leftmost-first match of CLIP's pattern at `i`, nil at whitespace (which no alternative matches;
    /// the inverted, Removed split drops it).
    static func matchCLIP(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, specialTokens: Bool) -> Int? {
        if specialTokens && p[i] == 0x3C {
            for special in clipSpecials where end - i >= special.count {
                if special.indices.allSatisfy({ p[i + $0] == special[$0] }) { return i + special.count }
            }
        }
        let (c0, l0) = scalarAt(p, i)
        if c0 == 0x27, let e = contraction(p, i, end, caseInsensitive: false) { return e }
        switch classOf(c0) {
        case .letter: return run(p, i, end, .letter)
        case .number: return i + l0
        case .other: return run(p, i, end, .other)
        case .whitespace: return nil
        }
    }

    /// End of the leftmost-first match of the GPT-2 pattern at `i`.
    static func matchGPT2(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let (c0, l0) = scalarAt(p, i)
        if c0 == 0x27, let e = contraction(p, i, end, caseInsensitive: false) { return e }
        let k0 = classOf(c0)
        let next = i + l0
        let k1: ScalarClass? = next < end ? classOf(scalarAt(p, next).value) : nil
        for c in [ScalarClass.letter, .number, .other] {
            if k0 == c { return run(p, i, end, c) }
            if c0 == 0x20 && k1 == c { return run(p, next, end, c) }
        }
        var j = i, lastStart = i, count = 0
        while j < end {
            let (v, len) = scalarAt(p, j)
            if classOf(v) != .whitespace { break }
            lastStart = j
            j += len
            count += 1
        }
        if j == end || count < 2 { return max(j, next) }
        return lastStart
    }

    // MARK: - NSRegularExpression fallback

    private static func foundationMatches(
        _ regex: NSRegularExpression, _ p: UnsafeBufferPointer<UInt8>,
        _ range: Range<Int>, into out: inout [Range<Int>]
    ) {
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[range]), as: UTF8.self)
        // UTF-16 offset → UTF-8 offset (relative to the piece), for mapping NSRange back to bytes.
        var utf16ToUTF8: [Int] = []
        var utf8Offset = 0
        for scalar in text.unicodeScalars {
            let width8 = UTF8.width(scalar), width16 = UTF16.width(scalar)
            for _ in 0..<width16 { utf16ToUTF8.append(utf8Offset) }
            utf8Offset += width8
        }
        utf16ToUTF8.append(utf8Offset)
        let whole = NSRange(location: 0, length: utf16ToUTF8.count - 1)
        for match in regex.matches(in: text, range: whole) where match.range.length > 0 {
            let lo = utf16ToUTF8[match.range.location]
            let hi = utf16ToUTF8[match.range.location + match.range.length]
            out.append((range.lowerBound + lo)..<(range.lowerBound + hi))
        }
    }
}
