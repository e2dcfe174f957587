import Foundation

// The one strict JSON parser: a streaming reader that callers drive with the structure they expect (safetensors
// headers, shard indexes), and on which `JSONValue.parse` builds a tree (tokenizer files).
//
// Why not JSONSerialization: it silently keeps one of two duplicate keys, merges canonically equivalent keys (its
// dictionaries compare Swift Strings), accepts things serde_json and Python's json refuse (trailing commas on
// Linux), and turns integers into doubles. Reading straight into the expected structure also means a hostile
// header costs no more than its own size, and every failure carries a byte offset.
// The grammar is RFC 8259 as serde_json applies it: whitespace is space/tab/LF/CR only, no leading zeros,
// strings may not hold raw control characters, \u escapes must pair surrogates, nesting is limited (127 by
// default, serde_json's limit).
//
// Written for debug builds too (the fuzz test parses 100,000 headers at -Onone): raw pointer reads with explicit
// bounds checks, byte constants instead of `UInt8(ascii:)` (a runtime call at -Onone), plain comparisons
// instead of generic range matching.

/// Where JSON text is broken, or does not have the expected structure: a byte offset of the text and what was
/// wrong there. Thrown by `JSONReader` and `JSONValue.parse`, and returned by `JSONSyntax.firstError`.
public struct JSONParseError: Error, Equatable, CustomStringConvertible, Sendable {
    public let offset: Int
    public let message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) at byte \(offset)" }

    /// 1-based line and column (in characters) of `offset` within `data`.
    public func position(in data: Data) -> (line: Int, column: Int) { UTF8Text.lineColumn(of: offset, in: data) }

    /// 1-based line and column (in characters) of `offset` within `buffer`.
    public func position(in buffer: UnsafeRawBufferPointer) -> (line: Int, column: Int) {
        UTF8Text.lineColumn(of: offset, in: buffer)
    }
}

/// The bytes JSON gives meaning to.
private enum JSONByte {
    static let quote: UInt8 = 0x22  // "
    static let backslash: UInt8 = 0x5C  // \
    static let slash: UInt8 = 0x2F  // /
    static let openBrace: UInt8 = 0x7B  // {
    static let closeBrace: UInt8 = 0x7D  // }
    static let openBracket: UInt8 = 0x5B  // [
    static let closeBracket: UInt8 = 0x5D  // ]
    static let comma: UInt8 = 0x2C  // ,
    static let colon: UInt8 = 0x3A  // :
    static let minus: UInt8 = 0x2D  // -
    static let plus: UInt8 = 0x2B  // +
    static let dot: UInt8 = 0x2E  // .
    static let zero: UInt8 = 0x30  // 0
    static let nine: UInt8 = 0x39  // 9
    static let lowerE: UInt8 = 0x65  // e
    static let upperE: UInt8 = 0x45  // E
    static let lowerT: UInt8 = 0x74  // t (true, \t)
    static let lowerF: UInt8 = 0x66  // f (false, \f)
    static let lowerN: UInt8 = 0x6E  // n (null, \n)
    static let lowerB: UInt8 = 0x62  // b (\b)
    static let lowerR: UInt8 = 0x72  // r (\r)
    static let lowerU: UInt8 = 0x75  // u (\u)

    static func isDigit(_ byte: UInt8) -> Bool { byte >= zero && byte <= nine }
    static func startsNumber(_ byte: UInt8) -> Bool { byte == minus || isDigit(byte) }
}

/// Reads JSON from bytes that are already known to be valid UTF-8 (check them with `UTF8Text.firstInvalidOffset`
/// first: strings are decoded without a second check).
public struct JSONReader {
    /// Every read below checks `position < count` itself.
    private let bytes: UnsafePointer<UInt8>
    private let count: Int
    /// The offset of the next byte to read.
    public private(set) var position = 0
    /// Containers currently open.
    private var depth = 0
    /// The most containers that may be open at once; serde_json refuses a 128th level, and so do we by default.
    public let maxDepth: Int
    public static let defaultMaxDepth = 127

    /// `buffer` must stay valid while the reader is used.
    public init(_ buffer: UnsafeRawBufferPointer, maxDepth: Int = JSONReader.defaultMaxDepth) {
        self.maxDepth = maxDepth
        if let base = buffer.baseAddress {
            bytes = base.assumingMemoryBound(to: UInt8.self)
            count = buffer.count
        } else {
            // An empty buffer may have no address; point at a constant that is never read (count is 0).
            bytes = UnsafePointer(Self.empty)
            count = 0
        }
    }

    private static let empty = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

    /// The text of bytes[start..<end], for messages.
    private func text(_ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: bytes + start, count: end - start), as: UTF8.self)
    }

    // MARK: - Tokens

    /// The next non-whitespace byte, without consuming it; nil at the end.
    public mutating func peek() -> UInt8? {
        while position < count {
            let byte = bytes[position]
            // JSON whitespace: space, tab, LF, CR — nothing else (no BOM, no NUL padding).
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return byte }
            position += 1
        }
        return nil
    }

    public func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, message: reason)
    }

    /// What the next token is, for messages: "a string", "a number", "end of input", "'x'"…
    public mutating func describeNext() -> String {
        guard let byte = peek() else { return "end of input" }
        if byte == JSONByte.quote { return "a string" }
        if byte == JSONByte.openBrace { return "an object" }
        if byte == JSONByte.openBracket { return "an array" }
        if JSONByte.startsNumber(byte) { return "a number" }
        if byte == JSONByte.lowerT || byte == JSONByte.lowerF { return "a boolean" }
        if byte == JSONByte.lowerN { return "null" }
        if byte >= 0x21 && byte <= 0x7E { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16))"
    }

    /// Skips a UTF-8 byte order mark at the start of the text, if there is one (a BOM is not JSON whitespace:
    /// only readers that tolerate it call this).
    mutating func skipByteOrderMark() {
        if position == 0 && count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { position = 3 }
    }

    /// Requires that only whitespace remains.
    public mutating func expectEnd() throws {
        if peek() != nil { throw error("trailing characters after the JSON value") }
    }

    /// Consumes the literal `null` if it is next.
    public mutating func consumeNull() throws -> Bool {
        guard peek() == JSONByte.lowerN else { return false }
        try expectLiteral("null")
        return true
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let start = position
        let length = literal.utf8CodeUnitCount
        guard position + length <= count, memcmp(bytes + position, literal.utf8Start, length) == 0 else {
            throw error("invalid literal", at: start)
        }
        position += length
    }

    // MARK: - Containers

    /// Reads an object, calling `body` once per member with the reader positioned at the member's value, which
    /// `body` must consume. Duplicate keys are an error (the reference would keep one silently).
    public mutating func readObject(
        _ what: @autoclosure () -> String,
        _ body: (inout JSONReader, String) throws -> Void
    ) throws {
        guard peek() == JSONByte.openBrace else { throw error("\(what()) must be an object, found \(describeNext())") }
        try enterContainer()
        position += 1
        if peek() == JSONByte.closeBrace {
            position += 1
            depth -= 1
            return
        }
        // Keys seen so far: a short list for the usual small objects (a tensor entry has three), a set beyond.
        var few: [String] = []
        var many = Set<String>()
        while true {
            let keyOffset = position
            let key = try readMemberName(what)
            let duplicate: Bool
            if few.count < 16 {
                duplicate = few.contains(key)
                few.append(key)
            } else {
                if many.isEmpty { many = Set(few) }
                duplicate = !many.insert(key).inserted
            }
            if duplicate { throw error("duplicate key '\(key)' in \(what())", at: keyOffset) }
            try readColon(after: key)
            try body(&self, key)
            let next = peek()
            if next == JSONByte.comma {
                position += 1
            } else if next == JSONByte.closeBrace {
                position += 1
                depth -= 1
                return
            } else {
                throw error("expected ',' or '}' in \(what()), found \(describeNext())")
            }
        }
    }

    /// Reads an array, calling `body` with each element's index; `body` must consume the element.
    public mutating func readArray(
        _ what: @autoclosure () -> String,
        _ body: (inout JSONReader, Int) throws -> Void
    ) throws {
        guard peek() == JSONByte.openBracket else {
            throw error("\(what()) must be an array, found \(describeNext())")
        }
        try enterContainer()
        position += 1
        if peek() == JSONByte.closeBracket {
            position += 1
            depth -= 1
            return
        }
        var index = 0
        while true {
            try body(&self, index)
            index += 1
            let next = peek()
            if next == JSONByte.comma {
                position += 1
            } else if next == JSONByte.closeBracket {
                position += 1
                depth -= 1
                return
            } else {
                throw error("expected ',' or ']' in \(what()), found \(describeNext())")
            }
        }
    }

    /// The `"name"` of an object member.
    private mutating func readMemberName(_ what: () -> String) throws -> String {
        guard peek() == JSONByte.quote else {
            throw error("expected a string key in \(what()), found \(describeNext())")
        }
        return try readString()
    }

    /// The `:` after member name `key`.
    private mutating func readColon(after key: String) throws {
        guard peek() == JSONByte.colon else {
            throw error("expected ':' after key '\(key)', found \(describeNext())")
        }
        position += 1
    }

    /// `"name":` of an object member of a tree; returns the name, with the reader at the member's value.
    private mutating func readTreeMemberName() throws -> String {
        let key = try readMemberName { "object" }
        try readColon(after: key)
        return key
    }

    private mutating func enterContainer() throws {
        depth += 1
        if depth > maxDepth { throw error("nesting deeper than \(maxDepth) levels") }
    }

    // MARK: - Trees

    /// Reads any JSON value as a tree: object members in file order with their exact names, duplicates kept (the
    /// caller decides which wins). Builds with an explicit stack, so nesting costs no call stack; containers
    /// still count against `maxDepth`.
    public mutating func readValue() throws -> JSONValue {
        /// An open container: its elements (arrays) or members so far and the name of the member being read.
        struct Open {
            let isObject: Bool
            var elements: [JSONValue] = []
            var members: [JSONMember] = []
            var key = ""
        }
        var stack: [Open] = []
        while true {
            // A value starts here.
            var value: JSONValue
            guard let next = peek() else { throw error("expected a JSON value, found end of input") }
            if next == JSONByte.openBrace || next == JSONByte.openBracket {
                let isObject = next == JSONByte.openBrace
                try enterContainer()
                position += 1
                if peek() == (isObject ? JSONByte.closeBrace : JSONByte.closeBracket) {
                    position += 1
                    depth -= 1
                    value = isObject ? .object([]) : .array([])
                } else {
                    var open = Open(isObject: isObject)
                    if isObject { open.key = try readTreeMemberName() }
                    stack.append(open)
                    continue
                }
            } else if next == JSONByte.quote {
                value = .string(try readString())
            } else if next == JSONByte.lowerT {
                try expectLiteral("true")
                value = .bool(true)
            } else if next == JSONByte.lowerF {
                try expectLiteral("false")
                value = .bool(false)
            } else if next == JSONByte.lowerN {
                try expectLiteral("null")
                value = .null
            } else if JSONByte.startsNumber(next) {
                let start = position
                let isInteger = try scanNumber()
                let literal = text(start, position)
                // Out-of-range literals read as ±infinity or 0, as in Python's json; integers beyond Int keep
                // only their Double.
                guard let double = Double(literal) else { throw error("invalid number", at: start) }
                value = .number(double, integer: isInteger ? Int(literal) : nil)
            } else {
                throw error("expected a JSON value, found \(describeNext())")
            }
            // A value is complete: add it to the open container, closing containers that end here.
            while true {
                guard !stack.isEmpty else { return value }
                let top = stack.count - 1
                let isObject = stack[top].isObject
                if isObject {
                    stack[top].members.append(JSONMember(key: stack[top].key, value: value))
                } else {
                    stack[top].elements.append(value)
                }
                let next = peek()
                if next == JSONByte.comma {
                    position += 1
                    if isObject { stack[top].key = try readTreeMemberName() }
                    break
                }
                guard next == (isObject ? JSONByte.closeBrace : JSONByte.closeBracket) else {
                    throw error(
                        "expected ',' or '\(isObject ? "}" : "]")' in \(isObject ? "object" : "array"), "
                            + "found \(describeNext())")
                }
                position += 1
                depth -= 1
                let closed = stack.removeLast()
                value = isObject ? .object(closed.members) : .array(closed.elements)
            }
        }
    }

    /// Consumes any JSON value (a field the schema does not use), checking its syntax. It recurses once per open
    /// container, so `maxDepth` also bounds its stack use.
    public mutating func skipValue() throws {
        guard let next = peek() else { throw error("expected a JSON value, found end of input") }
        if next == JSONByte.openBrace {
            try readObject("object") { reader, _ in try reader.skipValue() }
        } else if next == JSONByte.openBracket {
            try readArray("array") { reader, _ in try reader.skipValue() }
        } else if next == JSONByte.quote {
            _ = try readString()
        } else if next == JSONByte.lowerT {
            try expectLiteral("true")
        } else if next == JSONByte.lowerF {
            try expectLiteral("false")
        } else if next == JSONByte.lowerN {
            try expectLiteral("null")
        } else if JSONByte.startsNumber(next) {
            _ = try scanNumber()
        } else {
            throw error("expected a JSON value, found \(describeNext())")
        }
    }

    // MARK: - Numbers

    /// A non-negative integer that fits in 64 bits, written without sign, fraction or exponent — what
    /// serde_json accepts for a `usize` (it reads "-0", "1.0" and "1e3" as floats and refuses them).
    public mutating func readUInt64(_ what: @autoclosure () -> String) throws -> UInt64 {
        guard let first = peek(), JSONByte.startsNumber(first) else {
            throw error("\(what()) must be a non-negative integer, found \(describeNext())")
        }
        let start = position
        let isInteger = try scanNumber()
        guard isInteger, first != JSONByte.minus else {
            throw error("\(what()) must be a non-negative integer, found \(text(start, position))", at: start)
        }
        var value: UInt64 = 0
        var i = start
        while i < position {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[i] &- JSONByte.zero))
            if o1 || o2 { throw error("\(what()) \(text(start, position)) does not fit in 64 bits", at: start) }
            value = sum
            i += 1
        }
        return value
    }

    /// Any JSON number as a Double (index metadata such as total_size).
    public mutating func readNumber(_ what: @autoclosure () -> String) throws -> Double {
        guard let first = peek(), JSONByte.startsNumber(first) else {
            throw error("\(what()) must be a number, found \(describeNext())")
        }
        let start = position
        _ = try scanNumber()
        let literal = text(start, position)
        guard let value = Double(literal), value.isFinite else {
            throw error("\(what()) \(literal) is out of range", at: start)
        }
        return value
    }

    /// Consumes one number per the JSON grammar; returns true when it has no fraction and no exponent.
    private mutating func scanNumber() throws -> Bool {
        let start = position
        if position < count && bytes[position] == JSONByte.minus { position += 1 }
        guard position < count, JSONByte.isDigit(bytes[position]) else { throw error("invalid number", at: start) }
        if bytes[position] == JSONByte.zero {
            position += 1  // a leading zero stands alone; in "01" the '1' is then out of place
        } else {
            skipDigits()
        }
        var isInteger = true
        if position < count && bytes[position] == JSONByte.dot {
            isInteger = false
            position += 1
            guard position < count, JSONByte.isDigit(bytes[position]) else { throw error("invalid number", at: start) }
            skipDigits()
        }
        if position < count && (bytes[position] == JSONByte.lowerE || bytes[position] == JSONByte.upperE) {
            isInteger = false
            position += 1
            if position < count && (bytes[position] == JSONByte.plus || bytes[position] == JSONByte.minus) {
                position += 1
            }
            guard position < count, JSONByte.isDigit(bytes[position]) else { throw error("invalid number", at: start) }
            skipDigits()
        }
        return isInteger
    }

    private mutating func skipDigits() {
        while position < count && JSONByte.isDigit(bytes[position]) { position += 1 }
    }

    // MARK: - Strings

    /// Reads a string, decoding escapes. The bytes are valid UTF-8 (checked before parsing), so unescaped runs
    /// decode as they are.
    public mutating func readString(_ what: @autoclosure () -> String = "value") throws -> String {
        guard peek() == JSONByte.quote else { throw error("\(what()) must be a string, found \(describeNext())") }
        let start = position
        position += 1
        let runStart = position
        // Fast path: no escapes.
        while position < count {
            let byte = bytes[position]
            if byte == JSONByte.quote {
                let result = text(runStart, position)
                position += 1
                return result
            }
            if byte == JSONByte.backslash { break }
            if byte < 0x20 { throw error("control character 0x\(String(byte, radix: 16)) in string") }
            position += 1
        }
        guard position < count else { throw error("unterminated string", at: start) }
        // Slow path: copy and unescape.
        var decoded = Array(UnsafeBufferPointer(start: bytes + runStart, count: position - runStart))
        while position < count {
            let byte = bytes[position]
            if byte == JSONByte.quote {
                position += 1
                return String(decoding: decoded, as: UTF8.self)
            }
            if byte < 0x20 { throw error("control character 0x\(String(byte, radix: 16)) in string") }
            if byte != JSONByte.backslash {
                decoded.append(byte)
                position += 1
                continue
            }
            let escapeStart = position
            position += 1
            guard position < count else { break }
            let code = bytes[position]
            position += 1
            switch code {
            case JSONByte.quote, JSONByte.backslash, JSONByte.slash: decoded.append(code)
            case JSONByte.lowerB: decoded.append(0x08)
            case JSONByte.lowerF: decoded.append(0x0C)
            case JSONByte.lowerN: decoded.append(0x0A)
            case JSONByte.lowerR: decoded.append(0x0D)
            case JSONByte.lowerT: decoded.append(0x09)
            case JSONByte.lowerU:
                var scalar = try readHex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard position + 1 < count, bytes[position] == JSONByte.backslash,
                        bytes[position + 1] == JSONByte.lowerU
                    else {
                        throw error("unpaired surrogate in \\u escape", at: escapeStart)
                    }
                    position += 2
                    let low = try readHex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else {
                        throw error("unpaired surrogate in \\u escape", at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw error("unpaired surrogate in \\u escape", at: escapeStart)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape", at: escapeStart) }
                decoded.append(contentsOf: String(Character(unicode)).utf8)
            default:
                throw error("invalid escape '\\\(Character(Unicode.Scalar(code)))'", at: escapeStart)
            }
        }
        throw error("unterminated string", at: start)
    }

    private mutating func readHex4() throws -> UInt32 {
        guard position + 4 <= count else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let nibble: UInt8
            if JSONByte.isDigit(byte) {
                nibble = byte - JSONByte.zero
            } else if byte >= 0x61 && byte <= 0x66 {  // a-f
                nibble = byte - 0x61 + 10
            } else if byte >= 0x41 && byte <= 0x46 {  // A-F
                nibble = byte - 0x41 + 10
            } else {
                throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt32(nibble)
            position += 1
        }
        return value
    }
}
