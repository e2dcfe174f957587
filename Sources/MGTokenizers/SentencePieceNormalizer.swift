// SentencePiece's text normalizer (normalizer.cc) for the identity rule set: optional removal of extra spaces,
// spaces escaped as "▁", and the dummy prefix "▁" (or suffix with treat_whitespace_as_suffix). User-defined pieces
// are copied verbatim, as sentencepiece hands its prefix matcher to the normalizer.

struct SentencePieceNormalizer: Sendable {
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let treatWhitespaceAsSuffix: Bool
    let userDefined: ByteTrie

    init(
        spec: SentencePieceModel.NormalizerSpec, treatWhitespaceAsSuffix: Bool, userDefined: ByteTrie,
        fileName: String
    ) throws {
        // A non-empty charsmap encodes NFKC-style rewrite rules (a Darts trie); applying it is not implemented, and
        // ignoring it would silently tokenize differently.
        guard spec.precompiledCharsmap.isEmpty else {
            throw TokenizerError.unsupported(
                file: fileName, field: "normalizer_spec.precompiled_charsmap",
                value:
                    "\"\(spec.name)\" rules (\(spec.precompiledCharsmap.count) bytes); only identity normalization is implemented"
            )
        }
        addDummyPrefix = spec.addDummyPrefix
        removeExtraWhitespaces = spec.removeExtraWhitespaces
        escapeWhitespaces = spec.escapeWhitespaces
        self.treatWhitespaceAsSuffix = treatWhitespaceAsSuffix
        self.userDefined = userDefined
    }

    /// The next normalization unit at `i`: a user-defined piece, else one character. Invalid UTF-8 becomes U+FFFD
    /// and consumes one byte (never happens for text that came from a Swift String).
    @inline(__always)
    private func prefix(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (replacement: Bool, length: Int) {
        if let match = userDefined.longestMatch(in: p, at: i, end: p.count) { return (false, match.length) }
        if let (_, length) = UTF8Validation.decode(p, at: i, end: p.count) { return (false, length) }
        return (true, 1)
    }

    func normalize(_ text: [UInt8]) -> [UInt8] {
        text.withUnsafeBufferPointer { normalize($0) }
    }

    func normalize(_ p: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        if p.isEmpty { return out }
        var i = 0
        if removeExtraWhitespaces {
            // Leading spaces go (only U+0020: the identity rules leave other whitespace alone).
            while i < p.count {
                let unit = prefix(p, at: i)
                guard !unit.replacement, unit.length == 1, p[i] == 0x20 else { break }
                i += 1
            }
            if i == p.count { return out }
        }
        out.reserveCapacity(p.count + p.count / 2 + 3)
        let space: [UInt8] = escapeWhitespaces ? metaspaceBytes : [0x20]
        if !treatWhitespaceAsSuffix && addDummyPrefix { out.append(contentsOf: space) }

        var isPreviousSpace = removeExtraWhitespaces
        while i < p.count {
            let unit = prefix(p, at: i)
            if unit.replacement {
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                isPreviousSpace = false
            } else {
                var start = i
                let end = i + unit.length
                // Drop spaces at the head of this unit when the previous one ended in a space.
                while isPreviousSpace && start < end && p[start] == 0x20 { start += 1 }
                if start < end {
                    for k in start..<end {
                        if p[k] == 0x20 && escapeWhitespaces {
                            out.append(contentsOf: metaspaceBytes)
                        } else {
                            out.append(p[k])
                        }
                    }
                    isPreviousSpace = p[end - 1] == 0x20
                }
            }
            i += unit.length
            if !removeExtraWhitespaces { isPreviousSpace = false }
        }

        if removeExtraWhitespaces {
            while out.count >= space.count && Array(out[(out.count - space.count)...]) == space {
                out.removeLast(space.count)
            }
        }
        if treatWhitespaceAsSuffix && addDummyPrefix { out.append(contentsOf: space) }
        return out
    }
}
