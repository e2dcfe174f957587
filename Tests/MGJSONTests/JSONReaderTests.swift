import Foundation
import MGJSON
import XCTest

/// The streaming reader as checkpoint readers drive it (their own tests cover each message in context): structure
/// errors name what was expected, duplicate keys are refused, nesting is limited to 127 by default.
final class JSONReaderTests: XCTestCase {
    /// Reads `{"name": string, "sizes": [uint64…]}` with other members skipped.
    private func read(_ text: String, maxDepth: Int = JSONReader.defaultMaxDepth) throws -> (String?, [UInt64]) {
        try Array(text.utf8).withUnsafeBytes { bytes in
            var reader = JSONReader(bytes, maxDepth: maxDepth)
            var name: String?
            var sizes: [UInt64] = []
            try reader.readObject("the record") { reader, key in
                switch key {
                case "name": name = try reader.readString("name")
                case "sizes": try reader.readArray("sizes") { reader, _ in sizes.append(try reader.readUInt64("size")) }
                default: try reader.skipValue()
                }
            }
            try reader.expectEnd()
            return (name, sizes)
        }
    }

    private func error(_ text: String, maxDepth: Int = JSONReader.defaultMaxDepth) -> JSONParseError? {
        do {
            _ = try read(text, maxDepth: maxDepth)
            return nil
        } catch {
            return error as? JSONParseError
        }
    }

    func testReadsTheExpectedStructure() throws {
        let text = #" {"x": [{"y": null}, 1.5e3, "s"], "name": "a\u00e9", "sizes": [0, 18446744073709551615]} "#
        let (name, sizes) = try read(text)
        XCTAssertEqual(name, "aé")
        XCTAssertEqual(sizes, [0, UInt64.max])
    }

    func testStructureErrorsNameWhatWasExpected() {
        let cases: [(String, Int, String)] = [
            ("[]", 0, "the record must be an object, found an array"),
            (#"{"name": 1}"#, 9, "name must be a string, found a number"),
            (#"{"sizes": [1.0]}"#, 11, "size must be a non-negative integer, found 1.0"),
            (#"{"sizes": [-1]}"#, 11, "size must be a non-negative integer, found -1"),
            (#"{"sizes": [18446744073709551616]}"#, 11, "size 18446744073709551616 does not fit in 64 bits"),
            (#"{"sizes": {}}"#, 10, "sizes must be an array, found an object"),
            (#"{"name": "a", "name": "b"}"#, 13, "duplicate key 'name' in the record"),
            (#"{"name": "a""#, 12, "expected ',' or '}' in the record, found end of input"),
            (#"{"x": [1,]}"#, 9, "expected a JSON value, found ']'"),
            ("{}\u{FEFF}", 2, "trailing characters after the JSON value"),
            ("\u{FEFF}{}", 0, "the record must be an object, found byte 0xef")
        ]
        for (text, offset, message) in cases {
            XCTAssertEqual(error(text), JSONParseError(offset: offset, message: message), text)
        }
    }

    func testNestingLimit() {
        func nested(_ depth: Int) -> String {
            #"{"x": "# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        }
        XCTAssertNil(error(nested(126)))
        XCTAssertEqual(error(nested(127)), JSONParseError(offset: 6 + 126, message: "nesting deeper than 127 levels"))
        XCTAssertEqual(error(nested(127), maxDepth: 128), nil)
    }
}
