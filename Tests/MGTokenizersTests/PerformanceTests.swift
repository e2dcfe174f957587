import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Encoding must stay linear-ish and cheap: ~1 MB of mixed text per tokenizer in a debug build.
final class PerformanceTests: XCTestCase {
    /// Deterministic mixed text: English-like sentences plus every reference string (CJK, emoji, NBSP, combining
    /// marks, digits, code) — about 1 MB.
    static let megabyte: String = {
        let words = ("the of and to in is that for it as was with be by on not he this are or from at which but have an "
                     + "they you were her she there been one all we their has would when if so no will more can out up "
                     + "about into them than only other new some could time these two may then do first any my now "
                     + "tokenizer model vision language image multimodal training benchmark performance").split(separator: " ")
        let extras = (try? ReferenceFile.load("vicuna-tiny").cases.map(\.text)) ?? []
        var generator = SplitMix64(seed: 42)
        var text = ""
        text.reserveCapacity(1_050_000)
        while text.utf8.count < 1_000_000 {
            if generator.next() % 10 == 0, !extras.isEmpty {
                text += extras[Int(generator.next() % UInt64(extras.count))] + " "
                continue
            }
            let count = 5 + Int(generator.next() % 20)
            var sentence = (0..<count).map { _ in String(words[Int(generator.next() % UInt64(words.count))]) }
                .joined(separator: " ")
            sentence = sentence.prefix(1).uppercased() + sentence.dropFirst()
            text += sentence + [". ", ", ", "? ", ".\n", ".\n\n", " (\(generator.next() % 100_000)) "][Int(generator.next() % 6)]
        }
        return text
    }()

    private func timeEncode(_ name: String) throws -> (seconds: Double, ids: Int) {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/\(name)"))
        let start = Date()
        let ids = tokenizer.encode(Self.megabyte, addSpecialTokens: false)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(ids.count, 100_000)
        return (seconds, ids.count)
    }

    func testOneMegabyteEncodesQuickly() throws {
        for name in ["llama3-tiny", "phi3-tiny", "vicuna-tiny"] {
            let (seconds, count) = try timeEncode(name)
            print("\(name): encoded \(Self.megabyte.utf8.count) bytes into \(count) ids in \(String(format: "%.3f", seconds)) s")
            // About 1 s on the development machine; the margin absorbs a busy shared CPU.
            XCTAssertLessThan(seconds, 8, "\(name) is too slow")
        }
        let processor = try SentencePieceProcessor(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model"))
        let start = Date()
        let ids = processor.encode(Self.megabyte)
        let seconds = Date().timeIntervalSince(start)
        print("sentencepiece: \(ids.count) ids in \(String(format: "%.3f", seconds)) s")
        XCTAssertLessThan(seconds, 8)
    }

    /// A long run with no spaces (one BPE word of 200k characters) must not go quadratic.
    func testLongWordIsNotQuadratic() throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/phi3-tiny"))
        let word = String(repeating: "abcdefghij", count: 20_000)
        let start = Date()
        let ids = tokenizer.encode(word, addSpecialTokens: false)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(tokenizer.decode(ids), word)
    }
}

/// Small deterministic PRNG for test data (the stdlib's generator is seeded randomly).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
