import XCTest
@testable import MGTokenizers

/// Stop strings, the image token and template slots are found by bytes, as Python's `str` operations find code
/// points; Swift's String operations would equate canonically equivalent text or miss a match that a combining
/// mark joins to the next Character.
final class ByteTextTests: XCTestCase {
    func testSuffixIsByteWise() {
        XCTAssertTrue(ByteText.hasSuffix("answer</s>", "</s>"))
        XCTAssertFalse(ByteText.hasSuffix("caf\u{E9}", "e\u{301}"), "U+00E9 does not end with e + U+0301")
        XCTAssertTrue(ByteText.hasSuffix("cafe\u{301}", "\u{301}"), "a lone combining mark is a suffix in bytes")
        XCTAssertFalse(ByteText.hasSuffix("<|end", "<|end|>"))
        XCTAssertEqual(Array(ByteText.removingSuffix("<|end|>", from: "ok<|end|>").utf8), Array("ok".utf8))
        XCTAssertEqual(Array(ByteText.removingSuffix("e\u{301}", from: "caf\u{E9}").utf8), Array("caf\u{E9}".utf8))
    }

    func testComponentsAndReplaceAreByteWise() {
        // ">" + U+0301 is one Character: Foundation would find no "<image>" here.
        XCTAssertEqual(
            ByteText.components("a<image>\u{301}b", separatedBy: "<image>").map { Array($0.utf8) },
            [Array("a".utf8), Array("\u{301}b".utf8)])
        XCTAssertEqual(ByteText.components("<image><image>", separatedBy: "<image>"), ["", "", ""])
        XCTAssertEqual(ByteText.components("none", separatedBy: "<image>"), ["none"])
        XCTAssertTrue(ByteText.contains("x<image>\u{301}", "<image>"))
        XCTAssertFalse(ByteText.contains("x<imag", "<image>"))
        XCTAssertEqual(
            Array(ByteText.replacingAll("e\u{301}", with: "E", in: "caf\u{E9} cafe\u{301}").utf8),
            Array("caf\u{E9} cafE".utf8), "only the exact bytes are replaced")
    }

    func testStreamedDeltaWaitsForCompleteCharacters() {
        XCTAssertEqual(ByteText.streamedDelta(printed: "He", text: "Hello"), "llo")
        XCTAssertNil(ByteText.streamedDelta(printed: "He", text: "Hel\u{FFFD}"), "wait for the rest of the bytes")
        XCTAssertEqual(
            ByteText.streamedDelta(printed: "e", text: "e\u{301}").map { Array($0.utf8) }, [0xCC, 0x81],
            "a combining mark after printed text is still printed")
        XCTAssertNil(ByteText.streamedDelta(printed: "abc", text: "abd"))
    }
}
