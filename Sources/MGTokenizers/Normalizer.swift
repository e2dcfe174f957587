import Foundation

/// The HF normalizers this package implements. They work on UTF-8 bytes of one text segment (the text between
/// added tokens).
indirect enum Normalizer {
    case sequence([Normalizer])
    case prepend([UInt8])
    case replace(pattern: [UInt8], content: [UInt8])
    /// `Replace` with a `Regex` pattern (CLIP's `\s+` → " "): every match, left to right, becomes `content`.
    case replaceRegex(RegexSplitter, content: [UInt8])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case strip(left: Bool, right: Bool)

    func apply(_ text: [UInt8]) -> [UInt8] {
        switch self {
        case .sequence(let steps):
            return steps.reduce(text) { $1.apply($0) }
        case .prepend(let prefix):
            // HF leaves an empty string empty.
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return Self.replaceAll(text, pattern, content)
        case .replaceRegex(let regex, let content):
            var matches: [Range<Int>] = []
            text.withUnsafeBufferPointer { regex.matches($0, 0..<$0.count, into: &matches) }
            guard !matches.isEmpty else { return text }
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            var previous = 0
            for m in matches {
                out.append(contentsOf: text[previous..<m.lowerBound])
                out.append(contentsOf: content)
                previous = m.upperBound
            }
            out.append(contentsOf: text[previous...])
            return out
        case .nfc: return Array(string(text).precomposedStringWithCanonicalMapping.utf8)
        case .nfd: return Array(string(text).decomposedStringWithCanonicalMapping.utf8)
        case .nfkc: return Array(string(text).precomposedStringWithCompatibilityMapping.utf8)
        case .nfkd: return Array(string(text).decomposedStringWithCompatibilityMapping.utf8)
        case .lowercase: return Array(string(text).lowercased().utf8)
        case .strip(let left, let right):
            var scalars = Array(string(text).unicodeScalars)
            if left {
                while let first = scalars.first, UnicodeClasses.isWhitespace(first.value) { scalars.removeFirst() }
            }
            if right { while let last = scalars.last, UnicodeClasses.isWhitespace(last.value) { scalars.removeLast() } }
            var out: [UInt8] = []
            for s in scalars { appendUTF8(s.value, to: &out) }
            return out
        }
    }

    private func string(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Non-overlapping occurrences, left to right (Rust `str::replace` semantics).
    static func replaceAll(_ text: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, text.count >= pattern.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 2)
        let first = pattern[0]
        var i = 0
        while i < text.count {
            if text[i] == first && i + pattern.count <= text.count {
                var k = 1
                while k < pattern.count && text[i + k] == pattern[k] { k += 1 }
                if k == pattern.count {
                    out.append(contentsOf: content)
                    i += pattern.count
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }
}
