import XCTest
import Foundation
@testable import MGTokenizers

/// Tokenizer files through `JSONObject` (the parser itself is tested in MGJSONTests).
final class JSONObjectTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mgtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory
    }

    func testLaterDuplicatesWinAndNullIsAbsent() throws {
        let url = try temporaryDirectory().appendingPathComponent("f.json")
        try Data("\u{FEFF}{\"b\": 1, \"a\": {\"x\": null}, \"b\": 3}".utf8).write(to: url)
        let object = try JSONObject.load(url)
        XCTAssertEqual(object.members.map(\.key), ["b", "a", "b"])
        XCTAssertEqual(try object.int("b"), 3)
        XCTAssertNil(try object.object("a").optionalInt("x"))
        XCTAssertThrowsError(try object.object("a").int("x")) { error in
            XCTAssertEqual(error as? TokenizerError, .missingField(file: url.path, field: "a.x"))
        }
    }

    func testParseErrorsNameTheFileAndByte() throws {
        let url = try temporaryDirectory().appendingPathComponent("tokenizer.json")
        for (text, reason) in [
            ("{\"a\": [1,]}", "expected a JSON value, found ']' at byte 9"),
            ("[1]", "the top level is not an object")
        ] {
            try Data(text.utf8).write(to: url)
            XCTAssertThrowsError(try JSONObject.load(url)) { error in
                XCTAssertEqual(error as? TokenizerError, .invalidJSON(file: url.path, reason: reason))
            }
        }
        try Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]).write(to: url)
        XCTAssertThrowsError(try JSONObject.load(url)) { error in
            XCTAssertEqual(error as? TokenizerError, .invalidJSON(file: url.path, reason: "invalid UTF-8 at byte 2"))
        }
    }

    /// Canonically equivalent but different tokens must stay distinct (Swift String keys would merge them).
    func testCanonicallyEquivalentTokensStayDistinct() throws {
        let directory = try temporaryDirectory()
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
