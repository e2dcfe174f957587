/// Byte-wise text comparisons for stop strings and streamed output. Swift's `String.hasSuffix`/`hasPrefix` compare
/// by canonical equivalence and Characters, so "…é" (e + U+0301) would end with "é" (U+00E9) and a trailing combining
/// mark would hide a stop string; generation must see the bytes the tokenizer produced.
public enum ByteText {
    /// Whether the UTF-8 bytes of `text` end with those of `suffix`.
    public static func hasSuffix(_ text: String, _ suffix: String) -> Bool {
        let t = text.utf8, s = suffix.utf8
        guard s.count <= t.count else { return false }
        return t.suffix(s.count).elementsEqual(s)
    }

    /// Whether the UTF-8 bytes of `text` start with those of `prefix`.
    public static func hasPrefix(_ text: String, _ prefix: String) -> Bool {
        text.utf8.starts(with: prefix.utf8)
    }

    /// `text` without the bytes of `suffix` at its end (unchanged when it does not end with them).
    public static func removingSuffix(_ suffix: String, from text: String) -> String {
        guard !suffix.isEmpty, hasSuffix(text, suffix) else { return text }
        return String(decoding: text.utf8.dropLast(suffix.utf8.count), as: UTF8.self)
    }

    /// What streaming output should print next: the bytes of `text` after `printed`, when `text` extends it.
    /// Nil while `text` ends in U+FFFD (a character whose bytes are still arriving token by token: printing it
    /// would show a replacement character that the next token turns into something else) or when `text` no longer
    /// starts with what was printed.
    public static func streamedDelta(printed: String, text: String) -> String? {
        if text.unicodeScalars.last == "\u{FFFD}" { return nil }
        guard hasPrefix(text, printed) else { return nil }
        return String(decoding: text.utf8.dropFirst(printed.utf8.count), as: UTF8.self)
    }
}

extension ByteText {
    /// `text` cut at every occurrence of the bytes of `separator` (Python's `str.split(sep)`). Foundation's
    /// `components(separatedBy:)` misses "<image>" when a combining mark follows it (">" + U+0301 is one Character).
    public static func components(_ text: String, separatedBy separator: String) -> [String] {
        let t = Array(text.utf8), s = Array(separator.utf8)
        guard !s.isEmpty else { return [text] }
        var parts: [String] = []
        var start = 0, i = 0
        while i + s.count <= t.count {
            if t[i] == s[0] && t[i..<(i + s.count)].elementsEqual(s) {
                parts.append(String(decoding: t[start..<i], as: UTF8.self))
                i += s.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(String(decoding: t[start...], as: UTF8.self))
        return parts
    }

    /// Whether the bytes of `part` occur in `text` (Python's `part in text`).
    public static func contains(_ text: String, _ part: String) -> Bool {
        components(text, separatedBy: part).count > 1 || part.isEmpty
    }

    /// Every occurrence of the bytes of `target` replaced by `replacement` (Python's `str.replace`). Foundation's
    /// `replacingOccurrences` also replaces canonically equivalent text ("é" for "e" + U+0301).
    public static func replacingAll(_ target: String, with replacement: String, in text: String) -> String {
        guard !target.isEmpty else { return text }
        return components(text, separatedBy: target).joined(separator: replacement)
    }
}
