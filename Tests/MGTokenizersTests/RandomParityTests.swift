import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Seeded random strings (mixed scripts, Unicode whitespace, contractions, digits, emoji, special tokens, "▁") and
/// random id sequences, run through tokenizers 0.23.3 and sentencepiece 0.2.3 (random-parity.json; see
/// Tests/Fixtures/README.md). Complements the hand-picked reference cases with combinations nobody thought of.
final class RandomParityTests: XCTestCase {
    private struct Expected {
        let encode: [[String: Any]]
        let decode: [[String: Any]]
    }

    private func load(_ name: String) throws -> Expected {
        let url = Fixtures.url("tokenizers/random-parity.json")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let all = try XCTUnwrap(root["tokenizers"] as? [String: Any])
        let entry = try XCTUnwrap(all[name] as? [String: Any])
        return Expected(
            encode: try XCTUnwrap(entry["encode"] as? [[String: Any]]),
            decode: try XCTUnwrap(entry["decode"] as? [[String: Any]]))
    }

    private func checkTokenizer(_ name: String) throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/\(name)"))
        let expected = try load(name)
        XCTAssertGreaterThan(expected.encode.count, 100)
        var failures = 0
        for c in expected.encode {
            let text = try XCTUnwrap(c["text"] as? String)
            let ids = try XCTUnwrap(c["ids"] as? [Int]), idsSpecial = try XCTUnwrap(c["ids_special"] as? [Int])
            let got = tokenizer.encode(text, addSpecialTokens: false)
            let gotSpecial = tokenizer.encode(text, addSpecialTokens: true)
            if got != ids || gotSpecial != idsSpecial {
                failures += 1
                XCTFail("\(name) encode \(text.debugDescription): \(got) != \(ids)")
            }
        }
        for d in expected.decode {
            let ids = try XCTUnwrap(d["ids"] as? [Int])
            let keep = try XCTUnwrap(d["keep"] as? String), skip = try XCTUnwrap(d["skip"] as? String)
            let gotKeep = tokenizer.decode(ids), gotSkip = tokenizer.decode(ids, skipSpecialTokens: true)
            // Compare scalars: String == would accept canonically equivalent but different text.
            if Array(gotKeep.unicodeScalars) != Array(keep.unicodeScalars)
                || Array(gotSkip.unicodeScalars) != Array(skip.unicodeScalars)
            {
                failures += 1
                XCTFail("\(name) decode \(ids): \(gotKeep.debugDescription) != \(keep.debugDescription)")
            }
        }
        XCTAssertEqual(failures, 0)
    }

    func testLlama3Tiny() throws { try checkTokenizer("llama3-tiny") }
    func testPhi3Tiny() throws { try checkTokenizer("phi3-tiny") }
    func testVicunaTinyConverted() throws { try checkTokenizer("vicuna-tiny") }

    /// Extra added tokens with single_word / lstrip / rstrip / normalized=true (matched after the normalizer, decoded
    /// as their normalized form) on top of the byte-level and the legacy-Llama pipelines.
    func testAddedTokenFlagsByteLevel() throws { try checkTokenizer("llama3-tiny-added-flags") }
    func testAddedTokenFlagsLegacyLlama() throws { try checkTokenizer("phi3-tiny-added-flags") }

    func testVicunaTinySentencePieceLibrary() throws {
        let processor = try SentencePieceProcessor(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model"))
        let expected = try load("vicuna-tiny")
        for c in expected.encode {
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(
                processor.encode(text), try XCTUnwrap(c["sentencepiece_ids"] as? [Int]), text.debugDescription)
        }
        for d in expected.decode {
            let ids = try XCTUnwrap(d["ids"] as? [Int])
            let text = try XCTUnwrap(d["sentencepiece"] as? String)
            XCTAssertEqual(Array(try processor.decode(ids).unicodeScalars), Array(text.unicodeScalars), "\(ids)")
        }
    }
}
