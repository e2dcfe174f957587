import Foundation
import MGJSON
import XCTest

/// The strict syntax check accepts what Python's `json` accepts (RFC 8259) and refuses the rest, at the right
/// byte: trailing commas first of all, which Foundation's parsers on Linux let through.
final class JSONSyntaxTests: XCTestCase {
    private func error(_ text: String, allowNonFinite: Bool = false) -> JSONSyntaxError? {
        JSONSyntax.firstError(in: Data(text.utf8), allowNonFinite: allowNonFinite)
    }

    func testValidDocumentsPass() {
        let valid = [
            "{}", "[]", "0", "-0.5e+10", "\"a\\u00e9\\n\"", "true", "null", " [1, [2, {\"a\": [false]}], \"x\"] ",
            "{\"a\": {\"b\": []}, \"c\": -1.25E-3}", "\u{FEFF}{\"bom\": 1}", "[\"é ☃ 😀\"]",
            String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        ]
        for text in valid { XCTAssertNil(error(text), text.prefix(40).description) }
    }

    func testInvalidDocumentsFailAtTheRightByte() {
        let cases: [(String, Int, String)] = [
            ("[1, 2,]", 5, "trailing comma"),
            ("{\"a\": 1,}", 7, "trailing comma"),
            ("[\n  {\"id\": 1,,}\n]", 13, "member name"),
            ("{\"a\" 1}", 5, "':'"),
            ("[1 2]", 3, "','"),
            ("[01]", 1, "leading zero"),
            ("[1.]", 3, "digit"),
            ("[-]", 2, "digit"),
            ("[\"a\tb\"]", 3, "control character"),
            ("[\"\\x\"]", 3, "invalid escape"),
            ("[\"\\u12g4\"]", 6, "hex"),
            ("{'a': 1}", 1, "member name"),
            ("[NaN]", 1, "value"),
            ("[tru]", 1, "value"),
            ("[1] [2]", 4, "end of the text"),
            ("", 0, "end of the text"),
            ("{\"a\": [1, 2", 11, "end of the text"),
            ("\"open", 5, "unterminated")
        ]
        for (text, offset, message) in cases {
            guard let e = error(text) else { XCTFail("accepted \(text)"); continue }
            XCTAssertEqual(e.offset, offset, "\(text): \(e)")
            XCTAssertTrue(e.message.contains(message), "\(text): \(e)")
        }
    }

    func testPythonNonFiniteLiteralsOnlyWhenAllowed() {
        for text in ["[NaN, Infinity, -Infinity]", "{\"s\": [NaN]}"] {
            XCTAssertNotNil(error(text))
            XCTAssertNil(error(text, allowNonFinite: true), text)
        }
        XCTAssertNotNil(error("[-Inf]", allowNonFinite: true))
    }

    func testPositionIsLineAndCharacterColumn() {
        let data = Data("{\n  \"é\": [1,\n   ]}".utf8)
        let e = JSONSyntax.firstError(in: data)
        // The trailing comma after 1: line 2, column 10 with "é" (two bytes) counted as one column.
        XCTAssertEqual(e.map { $0.position(in: data).line }, 2)
        XCTAssertEqual(e.map { $0.position(in: data).column }, 10)
    }
}
