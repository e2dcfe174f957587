import Foundation

/// A JSON value with object members kept in file order, names and strings exactly as written (after unescaping).
///
/// Foundation's JSONSerialization cannot be used for vocabularies: it builds Swift dictionaries, whose String keys
/// compare by canonical equivalence, so distinct tokens such as "Å" (U+00C5) and "Å" (U+212B ANGSTROM SIGN) collapse
/// into one and a token silently disappears. Here nothing is merged: duplicate member names are kept too.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// `integer` is set when the literal has no fraction and no exponent and fits in Int.
    case number(Double, integer: Int?)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The deepest nesting `parse` accepts by default.
    public static let defaultMaxDepth = 512

    /// Parses one JSON value from UTF-8 bytes (RFC 8259, strictly; see `JSONReader`). The whole text must be valid
    /// UTF-8 (else the error is at the first bad byte), and only whitespace may follow the value. A leading UTF-8
    /// byte order mark is skipped when `allowsByteOrderMark`, as most readers do.
    public static func parse(
        _ buffer: UnsafeRawBufferPointer, maxDepth: Int = defaultMaxDepth,
        allowsByteOrderMark: Bool = true
    ) throws -> JSONValue {
        if let bad = UTF8Text.firstInvalidOffset(in: buffer) {
            throw JSONParseError(offset: bad, message: "invalid UTF-8")
        }
        var reader = JSONReader(buffer, maxDepth: maxDepth)
        if allowsByteOrderMark { reader.skipByteOrderMark() }
        let value = try reader.readValue()
        try reader.expectEnd()
        return value
    }

    public static func parse(
        _ data: Data, maxDepth: Int = defaultMaxDepth,
        allowsByteOrderMark: Bool = true
    ) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0, maxDepth: maxDepth, allowsByteOrderMark: allowsByteOrderMark) }
    }

    public static func parse(
        _ bytes: [UInt8], maxDepth: Int = defaultMaxDepth,
        allowsByteOrderMark: Bool = true
    ) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, maxDepth: maxDepth, allowsByteOrderMark: allowsByteOrderMark) }
    }

    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// The value of an integer literal that fits in Int (not of `1.0` or `1e3`).
    public var int: Int? { if case .number(_, let i) = self { return i } else { return nil } }
    public var double: Double? { if case .number(let d, _) = self { return d } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    /// An object's members in file order, duplicates included.
    public var members: [JSONMember]? { if case .object(let m) = self { return m } else { return nil } }

    /// Exact equality: strings and member names compare by their UTF-8 bytes (not by canonical equivalence, as
    /// Swift Strings do), members in order.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x, xi), .number(y, yi)): return x == y && xi == yi
        case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        default: return false
        }
    }
}

/// One member of a JSON object: its exact name and its value.
public struct JSONMember: Equatable, Sendable {
    public let key: String
    public let value: JSONValue

    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }

    /// Exact equality: names compare by their UTF-8 bytes.
    public static func == (a: JSONMember, b: JSONMember) -> Bool {
        a.key.utf8.elementsEqual(b.key.utf8) && a.value == b.value
    }
}
