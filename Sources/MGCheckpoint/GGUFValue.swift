/// A GGUF metadata value (`gguf_type`). Strings are kept as their UTF-8 bytes: token pieces are compared as bytes,
/// never as Swift `String`s (which equate canonically equivalent text that vocabularies keep apart).
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string([UInt8])
    /// Elements of one type (`GGUFValueType`), possibly arrays themselves.
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value type, as the file records it.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// An integer value of any width (nil for other types or a value outside `Int`).
    public var integer: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// A float32 or float64 value, or an integer as a Double.
    public var number: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return integer.map(Double.init)
        }
    }

    /// A string's UTF-8 bytes.
    public var bytes: [UInt8]? { if case let .string(b) = self { return b } else { return nil } }

    /// A string decoded as UTF-8 (invalid sequences repaired); for names and templates, not for token pieces.
    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var bool: Bool? { if case let .bool(v) = self { return v } else { return nil } }

    /// An array's elements.
    public var elements: [GGUFValue]? { if case let .array(_, e) = self { return e } else { return nil } }

    /// A short description for messages: the type, and the value when it is short.
    public var summary: String {
        switch self {
        case let .string(b):
            return b.count <= 60 ? "\"\(String(decoding: b, as: UTF8.self))\"" : "a string of \(b.count) bytes"
        case let .array(t, e): return "an array of \(e.count) \(t)"
        case let .bool(v): return "\(v)"
        default: return number.map { "\($0)" } ?? "\(type)"
        }
    }
}

/// GGUF's value type codes (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of a fixed-size type (nil for strings and arrays).
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    public var description: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .float32: return "FLOAT32"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float64: return "FLOAT64"
        }
    }
}
