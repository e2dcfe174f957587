import Foundation

/// The HF decoders this package implements. Like HF's `decode_chain`, each step maps a list of token strings to a
/// new list; the final strings are concatenated.
indirect enum Decoder {
    case sequence([Decoder])
    case replace(pattern: String, content: String)
    case byteFallback
    case fuse
    /// Rust `char`s are Unicode scalars, so these two work on scalars, not on Swift grapheme clusters.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    /// HF `BPEDecoder`: the suffix (CLIP's "</w>") becomes a space in every token but the last, where it is dropped.
    case bpe(suffix: String)

    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(tokens) { $1.decodeChain($0) }
        case .replace(let pattern, let content):
            guard !pattern.isEmpty else { return tokens }
            // Byte-level replacement: String.replacingOccurrences would match canonically equivalent text too.
            let p = Array(pattern.utf8), c = Array(content.utf8)
            return tokens.map { String(decoding: Normalizer.replaceAll(Array($0.utf8), p, c), as: UTF8.self) }
        case .byteFallback:
            return Self.byteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let chars = Array(token.unicodeScalars)
                var front = 0
                while front < start && front < chars.count && chars[front] == content { front += 1 }
                var back = 0
                while back < stop && back < chars.count - front && chars[chars.count - 1 - back] == content {
                    back += 1
                }
                var out = String.UnicodeScalarView()
                out.append(contentsOf: chars[front..<(chars.count - back)])
                return String(out)
            }
        case .byteLevel:
            return [ByteLevel.decode(tokens)]
        case .bpe(let suffix):
            guard !suffix.isEmpty else { return tokens }
            let pattern = Array(suffix.utf8)
            return tokens.enumerated().map { index, token in
                let replacement: [UInt8] = index == tokens.count - 1 ? [] : [0x20]
                return String(decoding: Normalizer.replaceAll(Array(token.utf8), pattern, replacement), as: UTF8.self)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { index, token in
                var out = String.UnicodeScalarView()
                for c in token.unicodeScalars {
                    if c == replacement {
                        if !(index == 0 && scheme != .never) { out.append(" ") }
                    } else {
                        out.append(c)
                    }
                }
                return String(out)
            }
        }
    }

    /// Runs of `<0xNN>` tokens become the text of their bytes if that is valid UTF-8, else one U+FFFD per byte.
    private static func byteFallback(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validatingUTF8Bytes: pending) {
                out.append(text)
            } else {
                out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let b = byteValue(token) {
                pending.append(b)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    /// Whether the chain has a byte-fallback step (runs of `<0xNN>` tokens are decoded together).
    var hasByteFallback: Bool {
        switch self {
        case .sequence(let steps): return steps.contains { $0.hasByteFallback }
        case .byteFallback: return true
        default: return false
        }
    }

    /// HF accepts `<0x` + two hex digits (either case) + `>`.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}
