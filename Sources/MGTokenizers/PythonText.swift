/// The bits of Python string handling that transformers' CLIP tokenizer applies to text, reproduced exactly:
/// `str.isspace`, `str.strip()`, `str.split()` and `clean_up_tokenization`.
enum PythonText {
    /// Python's `str.isspace` for one scalar: bidirectional class WS, B or S, or category Zs. Wider than `\s`: it
    /// also holds the information separators U+001C–U+001F.
    static func isSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `str.strip()` with no argument.
    static func strip(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0.value) }),
            let last = scalars.lastIndex(where: { !isSpace($0.value) })
        else { return "" }
        return String(scalars[first...last])
    }

    /// `str.split()` with no argument: runs of whitespace separate, leading and trailing ones are dropped.
    static func split(_ text: Substring) -> [Substring] {
        var parts: [Substring] = []
        var start: String.Index?
        let scalars = text.unicodeScalars
        var i = scalars.startIndex
        while i < scalars.endIndex {
            if isSpace(scalars[i].value) {
                if let s = start { parts.append(text[s..<i]) }
                start = nil
            } else if start == nil {
                start = i
            }
            i = scalars.index(after: i)
        }
        if let s = start { parts.append(text[s..<scalars.endIndex]) }
        return parts
    }

    /// transformers' `PreTrainedTokenizerBase.clean_up_tokenization`: spaces before punctuation and English
    /// contractions removed, in this order.
    static func cleanUpTokenization(_ text: String) -> String {
        let rules: [(String, String)] = [
            (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")
        ]
        var bytes = Array(text.utf8)
        for (pattern, replacement) in rules {
            bytes = Normalizer.replaceAll(bytes, Array(pattern.utf8), Array(replacement.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
