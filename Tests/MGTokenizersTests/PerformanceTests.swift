import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Encoding stays linear in the input (~1 MB of mixed text per tokenizer), checked as time ratios within one run.
final class PerformanceTests: XCTestCase {
    /// Deterministic mixed text: English-like sentences plus every reference string (CJK, emoji, NBSP, combining
    /// marks, digits, code) — about 1 MB.
    static let megabyte: String = {
        let words =
            ("the of and to in is that for it as was with be by on not he this are or from at which but have an "
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
            text +=
                sentence
                + [". ", ", ", "? ", ".\n", ".\n\n", " (\(generator.next() % 100_000)) "][Int(generator.next() % 6)]
        }
        return text
    }()

    /// The best of two wall-clock runs of `body` (the minimum is the least disturbed by a busy machine).
    private func bestTime(_ body: () -> Void) -> Double {
        (0..<2).map { _ -> Double in
            let start = Date()
            body()
            return Date().timeIntervalSince(start)
        }.min() ?? 0
    }

    /// Encoding time grows linearly with the input: 4× the text takes well under 16× (quadratic) the time. A ratio
    /// measured in one run, so the machine's speed cancels out; absolute speed is `mgllava bench`'s business.
    private func assertLinear(
        _ name: String, small: String, large: String, _ encode: (String) -> Int,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertGreaterThan(encode(small), 1000, name, file: file, line: line)
        let smallTime = bestTime { _ = encode(small) }, largeTime = bestTime { _ = encode(large) }
        let ratio = largeTime / max(smallTime, 1e-6)
        print("\(name): \(small.utf8.count) → \(large.utf8.count) bytes, time ×\(String(format: "%.1f", ratio))")
        XCTAssertLessThan(
            ratio, 9, "\(name): 4× the input took \(ratio)× the time (quadratic would be 16×)",
            file: file, line: line)
    }

    func testOneMegabyteEncodesInLinearTime() throws {
        let large = Self.megabyte
        let small = String(large.prefix(large.count / 4))
        for name in ["llama3-tiny", "phi3-tiny", "vicuna-tiny"] {
            let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/\(name)"))
            XCTAssertGreaterThan(tokenizer.encode(large, addSpecialTokens: false).count, 100_000, name)
            assertLinear(name, small: small, large: large) { tokenizer.encode($0, addSpecialTokens: false).count }
        }
        let processor = try SentencePieceProcessor(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model"))
        assertLinear("sentencepiece", small: small, large: large) { processor.encode($0).count }
    }

    /// A long run with no spaces (one BPE word) must not go quadratic in its length.
    func testLongWordIsNotQuadratic() throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/phi3-tiny"))
        let word = String(repeating: "abcdefghij", count: 20_000)
        XCTAssertEqual(tokenizer.decode(tokenizer.encode(word, addSpecialTokens: false)), word)
        assertLinear("one 200k-character word", small: String(repeating: "abcdefghij", count: 5_000), large: word) {
            tokenizer.encode($0, addSpecialTokens: false).count
        }
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
