import Foundation
import MGJSON
import XCTest

/// The tree parser (`JSONValue.parse`, on `JSONReader`): members in file order with exact names, integers kept,
/// strict RFC 8259 with byte offsets.
final class JSONValueTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    private func parseError(
        _ bytes: [UInt8], maxDepth: Int = JSONValue.defaultMaxDepth,
        allowsByteOrderMark: Bool = true
    ) -> JSONParseError? {
        do {
            _ = try JSONValue.parse(bytes, maxDepth: maxDepth, allowsByteOrderMark: allowsByteOrderMark)
            return nil
        } catch let error as JSONParseError {
            return error
        } catch {
            XCTFail("not a JSONParseError: \(error)")
            return nil
        }
    }

    func testValuesEscapesAndOrder() throws {
        let value = try parse(#"{"b": [1, -2.5e1, true, false, null], "a": "x\u00e9\ud83d\ude00\n\"\\/", "b": 3}"#)
        let members = try XCTUnwrap(value.members)
        XCTAssertEqual(members.map(\.key), ["b", "a", "b"])
        let list = try XCTUnwrap(members[0].value.array)
        XCTAssertEqual(list[0].int, 1)
        XCTAssertEqual(list[1].double, -25)
        XCTAssertNil(list[1].int)
        XCTAssertEqual(list[2].bool, true)
        XCTAssertEqual(list[3].bool, false)
        XCTAssertTrue(list[4].isNull)
        XCTAssertEqual(members[1].value.string, "xé😀\n\"\\/")
        XCTAssertEqual(members[2].value, .number(3, integer: 3))
        XCTAssertEqual(try parse(" [ ] "), .array([]))
        XCTAssertEqual(try parse("{}"), .object([]))
        XCTAssertEqual(try parse("\"\\b\\f\\r\\t\\u0000\""), .string("\u{8}\u{C}\r\t\u{0}"))
    }

    func testNumbersKeepWhetherTheyWereIntegers() throws {
        XCTAssertEqual(try parse("-0"), .number(0, integer: 0))
        XCTAssertEqual(try parse("1.0"), .number(1, integer: nil))
        XCTAssertEqual(try parse("1e3"), .number(1000, integer: nil))
        XCTAssertEqual(try parse("9223372036854775807").int, Int.max)
        // Too large for Int: a Double only; too large for Double: infinity, as Python's json reads it.
        XCTAssertEqual(try parse("9223372036854775808"), .number(9223372036854775808, integer: nil))
        XCTAssertEqual(try parse("1e999").double, .infinity)
    }

    /// Names and strings are exact: canonically equivalent spellings stay distinct, also under ==.
    func testStringsAreExact() throws {
        let value = try parse(#"{"\u00c5": 0, "\u212b": 1, "e\u0301": "\u00e9"}"#)
        let members = try XCTUnwrap(value.members)
        XCTAssertEqual(members.map { Array($0.key.unicodeScalars) }, [["\u{C5}"], ["\u{212B}"], ["e", "\u{301}"]])
        XCTAssertEqual(Array(try XCTUnwrap(members[2].value.string).unicodeScalars), ["\u{E9}"])
        XCTAssertNotEqual(JSONValue.string("\u{C5}"), .string("\u{212B}"))
        XCTAssertNotEqual(JSONMember(key: "\u{C5}", value: .null), JSONMember(key: "\u{212B}", value: .null))
    }

    func testMalformedInputFailsAtTheRightByte() {
        let cases: [(String, Int, String)] = [
            ("", 0, "expected a JSON value, found end of input"),
            ("{", 1, "expected a string key in object, found end of input"),
            ("{\"a\" 1}", 5, "expected ':' after key 'a', found a number"),
            ("[1,]", 3, "expected a JSON value, found ']'"),
            ("{\"a\": 1,}", 8, "expected a string key in object, found '}'"),
            ("[1 2]", 3, "expected ',' or ']' in array, found a number"),
            ("{\"a\": 1 \"b\"}", 8, "expected ',' or '}' in object, found a string"),
            ("01", 1, "trailing characters after the JSON value"),
            ("1.", 0, "invalid number"),
            ("-", 0, "invalid number"),
            ("\"\\x\"", 1, "invalid escape '\\x'"),
            ("\"\\u12g4\"", 5, "invalid hex digit in \\u escape"),
            ("\"\\ud800\"", 1, "unpaired surrogate in \\u escape"),
            ("\"\\udc00\"", 1, "unpaired surrogate in \\u escape"),
            ("tru", 0, "invalid literal"),
            ("{} x", 3, "trailing characters after the JSON value"),
            ("\"a\u{01}\"", 2, "control character 0x1 in string"),
            ("\"open", 0, "unterminated string"),
            ("'a'", 0, "expected a JSON value, found '''")
        ]
        for (text, offset, message) in cases {
            XCTAssertEqual(parseError(Array(text.utf8)), JSONParseError(offset: offset, message: message), text)
        }
    }

    func testInvalidUTF8IsReportedAtTheFirstBadByte() {
        XCTAssertEqual(parseError([0x22, 0xFF, 0x22]), JSONParseError(offset: 1, message: "invalid UTF-8"))
        XCTAssertEqual(
            parseError([0x5B, 0x22, 0xC3, 0xA9, 0x22, 0x2C, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D]),
            JSONParseError(offset: 7, message: "invalid UTF-8"))
    }

    func testByteOrderMarkOnlyWhenAllowed() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("{\"bom\": 1}".utf8)
        XCTAssertEqual(try JSONValue.parse(bytes).members?.first?.key, "bom")
        XCTAssertEqual(parseError(bytes, allowsByteOrderMark: false)?.offset, 0)
    }

    func testNestingLimitWithoutRecursion() throws {
        func nested(_ depth: Int) -> [UInt8] {
            Array(
                (String(repeating: "[{\"k\":", count: depth / 2) + "0" + String(repeating: "}]", count: depth / 2)).utf8
            )
        }
        XCTAssertNoThrow(try JSONValue.parse(nested(512)))
        XCTAssertEqual(parseError(nested(514))?.message, "nesting deeper than 512 levels")
        XCTAssertEqual(parseError(nested(514))?.offset, 512 / 2 * 6)
        // A raised limit is honoured; parsing uses no recursion (freeing the tree does, so keep it modest here).
        let deep = try JSONValue.parse(nested(10_000), maxDepth: 10_000)
        var value = deep, depth = 0
        while let next = value.array?.first ?? value.members?.first?.value { value = next; depth += 1 }
        XCTAssertEqual(depth, 10_000)
        XCTAssertEqual(value, .number(0, integer: 0))
    }

    func testErrorPositionIsLineAndCharacterColumn() {
        let bytes = Array("{\n  \"é\": [1,\n   ]}".utf8)
        let error = parseError(bytes)
        XCTAssertEqual(error?.offset, 17)
        XCTAssertEqual(error.map { $0.position(in: Data(bytes)).line }, 3)
        XCTAssertEqual(error.map { $0.position(in: Data(bytes)).column }, 4)
        XCTAssertEqual(error?.description, "expected a JSON value, found ']' at byte 17")
    }
}
