import Foundation
import MGJSON
import XCTest

/// The one UTF-8 validator: the offset of the first ill-formed sequence, for each kind of ill-formedness, agreeing
/// with Swift's own strict decoder (the same rule as Python's `bytes.decode('utf-8')`).
final class UTF8TextTests: XCTestCase {
    private let prefix: [UInt8] = Array("ab\u{E9}\u{20AC}\u{1F600}".utf8)  // 1 + 1 + 2 + 3 + 4 = 11 bytes, all valid

    func testValidTextHasNoOffset() {
        let valid: [[UInt8]] = [
            [], prefix, [0x00, 0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF],
            [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
            Array("\u{FEFF}BOM, tabs\tand ☃".utf8)
        ]
        for bytes in valid {
            XCTAssertNil(UTF8Text.firstInvalidOffset(in: bytes), "\(bytes)")
            XCTAssertTrue(UTF8Text.isValid(bytes), "\(bytes)")
            XCTAssertNil(UTF8Text.firstInvalidOffset(in: Data(bytes)), "\(bytes)")
        }
    }

    func testEachKindOfInvalidSequenceAtItsOffset() {
        let cases: [(String, [UInt8])] = [
            ("lone continuation byte", [0x80]),
            ("lone continuation byte BF", [0xBF, 0x41]),
            ("overlong 2-byte lead C0", [0xC0, 0x80]),
            ("overlong 2-byte lead C1", [0xC1, 0xBF]),
            ("overlong 3-byte form", [0xE0, 0x9F, 0xBF]),
            ("overlong 4-byte form", [0xF0, 0x8F, 0xBF, 0xBF]),
            ("UTF-16 high surrogate", [0xED, 0xA0, 0x80]),
            ("UTF-16 low surrogate", [0xED, 0xBF, 0xBF]),
            ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
            ("lead F5", [0xF5, 0x80, 0x80, 0x80]),
            ("lead F8 (5-byte form)", [0xF8, 0x88, 0x80, 0x80, 0x80]),
            ("lead FE", [0xFE]),
            ("lead FF", [0xFF]),
            ("2-byte sequence cut by the end", [0xC3]),
            ("3-byte sequence cut by the end", [0xE2, 0x82]),
            ("4-byte sequence cut by the end", [0xF0, 0x9F, 0x98]),
            ("2-byte sequence cut by ASCII", [0xC3, 0x41]),
            ("3-byte sequence cut by ASCII", [0xE2, 0x82, 0x41]),
            ("4-byte sequence cut by a new lead", [0xF0, 0x9F, 0xC3, 0xA9])
        ]
        for (name, bad) in cases {
            let bytes = prefix + bad + Array("tail".utf8)
            XCTAssertEqual(UTF8Text.firstInvalidOffset(in: bytes), prefix.count, name)
            XCTAssertEqual(UTF8Text.firstInvalidOffset(in: Data(bytes)), prefix.count, name)
            XCTAssertEqual(bytes.withUnsafeBytes { UTF8Text.firstInvalidOffset(in: $0) }, prefix.count, name)
            XCTAssertFalse(UTF8Text.isValid(bytes), name)
            XCTAssertEqual(swiftDecoderOffset(bytes), prefix.count, name)
            // Offsets count from the start of a slice, not from its first index.
            XCTAssertEqual(UTF8Text.firstInvalidOffset(in: ([0x41] + bytes)[1...]), prefix.count, name)
            XCTAssertEqual(UTF8Text.firstInvalidOffset(in: Data([0x41] + bytes).dropFirst()), prefix.count, name)
        }
    }

    /// Where Swift's strict decoder first fails: the offset of the sequence it could not decode.
    private func swiftDecoderOffset(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Random short texts, dense in lead and continuation bytes, agree with Swift's decoder on every offset.
    func testAgreesWithSwiftsDecoderOnRandomBytes() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let interesting: [UInt8] = [
            0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED,
            0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF
        ]
        for _ in 0..<100_000 {
            let count = Int(next() % 10)
            let bytes = (0..<count).map { _ in
                next() % 4 == 0 ? UInt8(next() & 0xFF) : interesting[Int(next() % UInt64(interesting.count))]
            }
            XCTAssertEqual(UTF8Text.firstInvalidOffset(in: bytes), swiftDecoderOffset(bytes), "\(bytes)")
        }
    }

    func testLineAndCharacterColumn() {
        let data = Data("ab\n\té☃x\r\nz".utf8)  // "x" is byte 9: line 2, after a tab, é and ☃ (3 characters)
        XCTAssertEqual(UTF8Text.lineColumn(of: 9, in: data).line, 2)
        XCTAssertEqual(UTF8Text.lineColumn(of: 9, in: data).column, 4)
        XCTAssertEqual(UTF8Text.lineColumn(of: 0, in: data).line, 1)
        XCTAssertEqual(UTF8Text.lineColumn(of: 0, in: data).column, 1)
        XCTAssertEqual(UTF8Text.lineColumn(of: 12, in: data).line, 3)  // "z"
        XCTAssertEqual(UTF8Text.lineColumn(of: 12, in: data).column, 1)
        // Offsets outside the text are clamped.
        XCTAssertEqual(UTF8Text.lineColumn(of: 99, in: data).column, 2)
        XCTAssertEqual(UTF8Text.lineColumn(of: -5, in: data).line, 1)
    }
}
