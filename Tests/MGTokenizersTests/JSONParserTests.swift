import XCTest
import Foundation
@testable import MGTokenizers

final class JSONParserTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func testValuesEscapesAndOrder() throws {
        let value = try parse(#"{"b": [1, -2.5e1, true, false, null], "a": "x\u00e9\ud83d\ude00\n\"\\/", "b": 3}"#)
        let members = try XCTUnwrap(value.members)
        XCTAssertEqual(members.map(\.key), ["b", "a", "b"])
        let list = try XCTUnwrap(members[0].value.array)
        XCTAssertEqual(list[0].int, 1)
        XCTAssertEqual(list[1].double, -25)
        XCTAssertNil(list[1].int)
        XCTAssertEqual(list[2].bool, true)
        XCTAssertTrue(list[4].isNull)
        XCTAssertEqual(members[1].value.string, "xé😀\n\"\\/")
        // Later duplicates win in JSONObject lookups.
        XCTAssertEqual(try JSONObject(file: "f", path: "", members: members).int("b"), 3)
    }

    func testRejectsMalformedInput() {
        for bad in ["", "{", "{\"a\" 1}", "[1,]", "01", "1.", "\"\\x\"", "\"\\ud800\"", "tru", "{} x", "\"a\u{01}\"",
                    String(repeating: "[", count: 600) + String(repeating: "]", count: 600)] {
            XCTAssertThrowsError(try parse(bad), bad.debugDescription)
        }
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22]))  // invalid UTF-8 in a string
    }

    /// Canonically equivalent but different tokens must stay distinct (Swift String keys would merge them).
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mgtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = #"""
        {"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
         "model": {"type": "BPE", "vocab": {"\u00c5": 0, "\u212b": 1, "e": 2, "\u0301": 3, "\u00e9": 4, "e\u0301": 5},
                   "merges": [["e", "\u0301"]]}}
        """#
        try Data(json.utf8).write(to: directory.appendingPathComponent("tokenizer.json"))
        let tokenizer = try Tokenizer.load(directory: directory)
        XCTAssertEqual(tokenizer.vocabSize, 6)
        XCTAssertEqual(tokenizer.encode("\u{212B}\u{C5}"), [1, 0])
        XCTAssertEqual(tokenizer.encode("\u{E9}e\u{301}"), [4, 5])
        XCTAssertEqual(tokenizer.id(for: "\u{212B}"), 1)
        XCTAssertEqual(tokenizer.id(for: "e\u{301}"), 5)
        XCTAssertEqual(Array(try XCTUnwrap(tokenizer.token(for: 1)).unicodeScalars), ["\u{212B}"])
    }
}
