// A minimal reader for the protobuf wire format — just enough to load SentencePiece's `ModelProto` without a
// protobuf dependency. It never traps on bad input: every read is bounds-checked and reports where it failed.

import MGJSON

/// Why a protobuf read failed; `offset` is the byte position in the whole buffer.
struct ProtobufError: Error, CustomStringConvertible {
    let offset: Int
    let message: String
    var description: String { "\(message) at byte \(offset)" }
}

/// Protobuf wire types (the low 3 bits of a field key).
enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// Reads fields from `bytes[start..<end]`. Nested messages are read with a second reader over the sub-range of the
/// same array (no copy).
struct ProtobufReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8]) {
        self.init(bytes: bytes, range: 0..<bytes.count)
    }

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// The next field key, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wireType: WireType)? {
        if isAtEnd { return nil }
        let keyOffset = position
        let key = try readVarint()
        guard let wireType = WireType(rawValue: UInt8(key & 7)) else {
            throw ProtobufError(offset: keyOffset, message: "invalid wire type \(key & 7)")
        }
        let number = key >> 3
        // Field numbers are 29-bit and never 0.
        guard number > 0, number < (1 << 29) else {
            throw ProtobufError(offset: keyOffset, message: "invalid field number \(number)")
        }
        return (Int(number), wireType)
    }

    mutating func readVarint() throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw ProtobufError(offset: start, message: "truncated varint") }
            let byte = bytes[position]
            position += 1
            // The 10th byte may only carry the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw ProtobufError(offset: start, message: "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtobufError(offset: start, message: "varint longer than 10 bytes") }
        }
    }

    mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else { throw ProtobufError(offset: position, message: "truncated fixed32") }
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return value
    }

    mutating func readFixed64() throws -> UInt64 {
        guard end - position >= 8 else { throw ProtobufError(offset: position, message: "truncated fixed64") }
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return value
    }

    /// The byte range of a length-delimited field's payload; the reader moves past it.
    mutating func readLengthDelimited() throws -> Range<Int> {
        let lengthOffset = position
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw ProtobufError(offset: lengthOffset, message: "length \(length) runs past the end of the message")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try readFixed32()) }

    mutating func readBool() throws -> Bool { try readVarint() != 0 }

    /// int32 fields are sign-extended to 64 bits on the wire; proto semantics keep the low 32 bits.
    mutating func readInt32() throws -> Int32 { Int32(truncatingIfNeeded: try readVarint()) }

    mutating func readString() throws -> String {
        let range = try readLengthDelimited()
        guard let string = String(validatingUTF8Bytes: bytes[range]) else {
            throw ProtobufError(offset: range.lowerBound, message: "string is not valid UTF-8")
        }
        return string
    }

    mutating func readBytes() throws -> [UInt8] { Array(bytes[try readLengthDelimited()]) }

    /// Skips a field whose number is unknown (or whose wire type does not match the schema, which protobuf also
    /// treats as an unknown field).
    mutating func skipField(_ wireType: WireType, number: Int, depth: Int = 0) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup:
            // Deprecated groups: skip nested fields until the matching end-group key.
            guard depth < 64 else { throw ProtobufError(offset: position, message: "groups nested too deeply") }
            while true {
                guard let (inner, innerType) = try nextField() else {
                    throw ProtobufError(offset: position, message: "unterminated group \(number)")
                }
                if innerType == .endGroup {
                    guard inner == number else {
                        throw ProtobufError(offset: position, message: "end of group \(inner) inside group \(number)")
                    }
                    return
                }
                try skipField(innerType, number: inner, depth: depth + 1)
            }
        case .endGroup:
            throw ProtobufError(offset: position, message: "unexpected end of group \(number)")
        }
    }
}

extension String {
    /// Strict UTF-8 decoding (nil on any invalid sequence), unlike `String(decoding:as:)` which repairs.
    init?<C: Collection>(validatingUTF8Bytes bytes: C) where C.Element == UInt8 {
        guard UTF8Text.isValid(bytes) else { return nil }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
