import Foundation

/// Where JSON text breaks RFC 8259, as a byte offset and what was expected there: the error type of every JSON
/// reader of this module, under the name the syntax check has always used.
public typealias JSONSyntaxError = JSONParseError

/// A strict RFC 8259 syntax check, run before Foundation's parsers: `JSONSerialization` and `JSONDecoder` on
/// Linux accept trailing commas (`[1, 2,]`, `{"a": 1,}`) that Python's `json`, which reads every upstream file,
/// refuses. Only the syntax is checked (nothing is built), in one pass without recursion, so it costs little
/// next to the parse that follows and no nesting depth can overflow the stack.
///
/// It is a scanner of its own rather than a use of `JSONReader`: it has no nesting limit, accepts Python's
/// non-finite literals on request, and words its messages (and places trailing-comma errors) as Python's `json`
/// does, for files that upstream reads with Python; `JSONReader` follows serde_json, for checkpoint files that
/// upstream reads with Rust. Neither checks UTF-8 (`JSONValue.parse` does): use `UTF8Text.firstInvalidOffset`
/// first.
public enum JSONSyntax {
    /// The first syntax error of `data`, nil when it is one valid JSON value (a leading UTF-8 BOM is tolerated).
    /// `allowNonFinite` also accepts Python's `NaN`, `Infinity` and `-Infinity` (which `json.dump` writes and
    /// `json.load` reads), for files whose readers then name the non-finite value themselves.
    public static func firstError(in data: Data, allowNonFinite: Bool = false) -> JSONSyntaxError? {
        data.withUnsafeBytes { firstError(in: $0, allowNonFinite: allowNonFinite) }
    }

    public static func firstError(in bytes: UnsafeRawBufferPointer, allowNonFinite: Bool = false) -> JSONSyntaxError? {
        var scanner = Scanner(bytes: bytes, allowNonFinite: allowNonFinite)
        return scanner.run()
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        let allowNonFinite: Bool
        var i = 0
        /// Open containers: `{` or `[`.
        var stack: [UInt8] = []

        init(bytes: UnsafeRawBufferPointer, allowNonFinite: Bool) {
            self.bytes = bytes
            self.allowNonFinite = allowNonFinite
        }

        private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, message: message) }

        private var found: String {
            guard i < bytes.count else { return "the end of the text" }
            let b = bytes[i]
            return b >= 0x20 && b < 0x7F ? "'\(Character(UnicodeScalar(b)))'" : String(format: "byte 0x%02x", b)
        }

        private mutating func skipWhitespace() {
            while i < bytes.count {
                let b = bytes[i]
                guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
                i += 1
            }
        }

        mutating func run() -> JSONSyntaxError? {
            if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }
            while true {
                // A value is expected here.
                skipWhitespace()
                guard i < bytes.count else { return fail("expected a value, found the end of the text") }
                switch bytes[i] {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let open = bytes[i]
                    i += 1
                    skipWhitespace()
                    let close: UInt8 = open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if i < bytes.count && bytes[i] == close { i += 1; break }  // empty container: a complete value
                    stack.append(open)
                    if open == UInt8(ascii: "{") {
                        if let error = key() { return error }
                    }
                    continue
                case UInt8(ascii: "\""):
                    if let error = string() { return error }
                case UInt8(ascii: "t"): if let error = literal("true") { return error }
                case UInt8(ascii: "f"): if let error = literal("false") { return error }
                case UInt8(ascii: "n"): if let error = literal("null") { return error }
                case UInt8(ascii: "N") where allowNonFinite: if let error = literal("NaN") { return error }
                case UInt8(ascii: "I") where allowNonFinite: if let error = literal("Infinity") { return error }
                case UInt8(ascii: "-") where allowNonFinite && i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "I"):
                    if let error = literal("-Infinity") { return error }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    if let error = number() { return error }
                default:
                    return fail("expected a value, found \(found)")
                }
                // A value is complete: close containers or move to the next element.
                while true {
                    skipWhitespace()
                    guard let open = stack.last else {
                        return i == bytes.count
                            ? nil : fail("expected the end of the text after the value, found \(found)")
                    }
                    let isObject = open == UInt8(ascii: "{")
                    guard i < bytes.count else {
                        return fail("expected ',' or '\(isObject ? "}" : "]")', found the end of the text")
                    }
                    if bytes[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        stack.removeLast()
                        i += 1
                        continue
                    }
                    guard bytes[i] == UInt8(ascii: ",") else {
                        return fail("expected ',' or '\(isObject ? "}" : "]")', found \(found)")
                    }
                    let comma = i
                    i += 1
                    skipWhitespace()
                    if i < bytes.count && (bytes[i] == UInt8(ascii: "}") || bytes[i] == UInt8(ascii: "]")) {
                        // At the comma, as Python's json reports it ("Illegal trailing comma before end of …").
                        return JSONSyntaxError(offset: comma, message: "trailing comma before \(found)")
                    }
                    if isObject, let error = key() { return error }
                    break
                }
            }
        }

        /// `"name" :` of an object member.
        private mutating func key() -> JSONSyntaxError? {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                return fail("expected a member name in double quotes, found \(found)")
            }
            if let error = string() { return error }
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return fail("expected ':', found \(found)") }
            i += 1
            return nil
        }

        private mutating func string() -> JSONSyntaxError? {
            i += 1  // the opening quote
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { i += 1; return nil }
                if b < 0x20 { return fail("control character 0x\(String(b, radix: 16)) inside a string (escape it)") }
                if b == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { break }
                    switch bytes[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 1
                    case UInt8(ascii: "u"):
                        i += 1
                        for _ in 0..<4 {
                            guard i < bytes.count, isHex(bytes[i]) else {
                                return fail("expected 4 hex digits after \\u")
                            }
                            i += 1
                        }
                    default:
                        return fail("invalid escape \\\(found)")
                    }
                    continue
                }
                i += 1
            }
            return fail("unterminated string")
        }

        private func isHex(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
        }

        private mutating func literal(_ word: StaticString) -> JSONSyntaxError? {
            let start = i
            let text = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for b in text {
                guard i < bytes.count, bytes[i] == b else {
                    i = start
                    return fail("expected a value, found \(found)")
                }
                i += 1
            }
            return nil
        }

        private mutating func number() -> JSONSyntaxError? {
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            let start = i
            let count = digits()
            guard count > 0 else { return fail("expected a digit, found \(found)") }
            if count > 1 && bytes[start] == UInt8(ascii: "0") {
                return JSONSyntaxError(offset: start, message: "leading zero in a number")
            }
            if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { return fail("expected a digit after '.', found \(found)") }
            }
            if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
                i += 1
                if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                guard digits() > 0 else { return fail("expected a digit in the exponent, found \(found)") }
            }
            return nil
        }

        private mutating func digits() -> Int {
            let start = i
            while i < bytes.count && bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
            return i - start
        }
    }
}
