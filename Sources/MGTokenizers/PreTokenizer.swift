/// Text after normalization, cut into pre-tokens (byte ranges of `buffer`) that the model encodes one by one.
struct PreTokenizedText {
    var buffer: [UInt8]
    var pieces: [Range<Int>]
    /// Whether the text starts the input (HF: original offset 0) — Metaspace's prepend_scheme "first" needs it.
    var startsInput: Bool
    /// Set by the ByteLevel pre-tokenizer: each byte now stands for its bytes_to_unicode character.
    var byteLevel = false
}

/// How a `Split` keeps the matches (HF `SplitDelimiterBehavior`).
enum SplitBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

enum PrependScheme: String {
    case always, first, never
}

/// The HF pre-tokenizers this package implements.
indirect enum PreTokenizer {
    case sequence([PreTokenizer])
    case split(RegexSplitter, behavior: SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case metaspace(replacement: [UInt8], prependScheme: PrependScheme, split: Bool)
    case digits(individual: Bool)

    func apply(_ text: inout PreTokenizedText) {
        switch self {
        case .sequence(let steps):
            for step in steps { step.apply(&text) }
        case .split(let splitter, let behavior, let invert):
            text.buffer.withUnsafeBufferPointer { p in
                var pieces: [Range<Int>] = []
                pieces.reserveCapacity(text.pieces.count * 4)
                var matches: [Range<Int>] = []
                for piece in text.pieces {
                    matches.removeAll(keepingCapacity: true)
                    splitter.matches(p, piece, into: &matches)
                    Self.split(piece, matches: matches, behavior: behavior, invert: invert, into: &pieces)
                }
                text.pieces = pieces
            }
        case .byteLevel(let addPrefixSpace, let useRegex):
            if addPrefixSpace {
                Self.rewrite(&text) { piece, _, out in
                    if piece.first != 0x20 { out.append(0x20) }
                    out.append(contentsOf: piece)
                }
            }
            if useRegex {
                PreTokenizer.split(.gpt2, behavior: .isolated, invert: false).apply(&text)
            }
            text.byteLevel = true
        case .metaspace(let replacement, let scheme, let split):
            Self.rewrite(&text) { piece, isFirst, out in
                // HF replaces spaces first, so a leading space counts as a leading replacement.
                let startsWithReplacement = piece.first == 0x20 || piece.starts(with: replacement)
                let prepend: Bool
                switch scheme {
                case .always: prepend = !startsWithReplacement
                case .first: prepend = !startsWithReplacement && isFirst
                case .never: prepend = false
                }
                if prepend { out.append(contentsOf: replacement) }
                for b in piece {
                    if b == 0x20 { out.append(contentsOf: replacement) } else { out.append(b) }
                }
            }
            if split {
                PreTokenizer.split(.literal(replacement), behavior: .mergedWithNext, invert: false).apply(&text)
            }
        case .digits(let individual):
            // HF splits on `char::is_numeric` (Unicode N): each digit its own piece, or runs of digits together.
            text.buffer.withUnsafeBufferPointer { p in
                var pieces: [Range<Int>] = []
                var matches: [Range<Int>] = []
                for piece in text.pieces {
                    matches.removeAll(keepingCapacity: true)
                    var i = piece.lowerBound
                    while i < piece.upperBound {
                        let (v, len) = scalarAt(p, i)
                        if UnicodeClasses.classify(v) == .number { matches.append(i..<(i + len)) }
                        i += len
                    }
                    Self.split(
                        piece, matches: matches, behavior: individual ? .isolated : .contiguous, invert: false,
                        into: &pieces)
                }
                text.pieces = pieces
            }
        }
    }

    /// Rewrites every piece into a new buffer (`isFirst`: the piece starts the input).
    private static func rewrite(
        _ text: inout PreTokenizedText,
        _ body: (ArraySlice<UInt8>, Bool, inout [UInt8]) -> Void
    ) {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(text.buffer.count + text.buffer.count / 4 + 4)
        var pieces: [Range<Int>] = []
        pieces.reserveCapacity(text.pieces.count)
        for piece in text.pieces {
            let start = buffer.count
            body(text.buffer[piece], text.startsInput && piece.lowerBound == 0, &buffer)
            if buffer.count > start { pieces.append(start..<buffer.count) }
        }
        text.buffer = buffer
        text.pieces = pieces
    }

    /// HF `NormalizedString::split`: the piece is cut into alternating match / non-match parts, which the behavior
    /// then keeps, drops or glues together; empty parts vanish.
    static func split(
        _ piece: Range<Int>, matches: [Range<Int>], behavior: SplitBehavior, invert: Bool,
        into out: inout [Range<Int>]
    ) {
        var parts: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = piece.lowerBound
        for m in matches {
            if m.lowerBound > previous { parts.append((previous..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            previous = m.upperBound
        }
        if previous < piece.upperBound { parts.append((previous..<piece.upperBound, invert)) }

        var kept: [Range<Int>] = []
        switch behavior {
        case .isolated:
            kept = parts.map(\.range)
        case .removed:
            kept = parts.filter { !$0.isMatch }.map(\.range)
        case .mergedWithPrevious:
            var previousMatch = false
            for part in parts {
                if part.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<part.range.upperBound
                } else {
                    kept.append(part.range)
                }
                previousMatch = part.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for part in parts.reversed() {
                if part.isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1] = part.range.lowerBound..<last.upperBound
                } else {
                    kept.append(part.range)
                }
                previousMatch = part.isMatch
            }
            kept.reverse()
        case .contiguous:
            var previousMatch = false
            for part in parts {
                if part.isMatch == previousMatch, let last = kept.last {
                    kept[kept.count - 1] = last.lowerBound..<part.range.upperBound
                } else {
                    kept.append(part.range)
                }
                previousMatch = part.isMatch
            }
        }
        for range in kept where !range.isEmpty { out.append(range) }
    }
}
