import XCTest
import Foundation
import Dispatch
import MGTestSupport
@testable import MGTokenizers

/// Every case of the reference files (AutoTokenizer of transformers 5.24 / tokenizers 0.23.3) must match exactly;
/// text is compared as UTF-8 bytes (String == would accept NFC for NFD).
final class TokenizerParityTests: XCTestCase {
    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/\(name)"))
        let reference = try ReferenceFile.load(name)
        XCTAssertGreaterThan(reference.cases.count, 50, file: file, line: line)
        XCTAssertEqual(tokenizer.vocabSize, reference.length, "\(name) vocabSize", file: file, line: line)
        XCTAssertEqual(tokenizer.bosTokenId, reference.bosTokenId, "\(name) bos", file: file, line: line)
        XCTAssertEqual(tokenizer.eosTokenId, reference.eosTokenId, "\(name) eos", file: file, line: line)
        var failures = 0
        for c in reference.cases {
            let label = "\(name) \(c.text.debugDescription)"
            let withSpecial = tokenizer.encode(c.text, addSpecialTokens: true)
            let withoutSpecial = tokenizer.encode(c.text, addSpecialTokens: false)
            let checks: [(Bool, String)] = [
                (withSpecial == c.idsWithSpecial, "ids (special) \(withSpecial) != \(c.idsWithSpecial)"),
                (withoutSpecial == c.idsWithoutSpecial, "ids \(withoutSpecial) != \(c.idsWithoutSpecial)"),
                (
                    tokenizer.tokens(c.text).map { Array($0.utf8) } == c.tokens.map { Array($0.utf8) },
                    "tokens \(tokenizer.tokens(c.text)) != \(c.tokens)"
                ),
                (
                    Array(tokenizer.decode(c.idsWithoutSpecial).utf8) == Array(c.decoded.utf8),
                    "decoded \(tokenizer.decode(c.idsWithoutSpecial).debugDescription) != \(c.decoded.debugDescription)"
                ),
                (
                    Array(tokenizer.decode(c.idsWithSpecial, skipSpecialTokens: true).utf8)
                        == Array(c.decodedSkip.utf8),
                    "skip \(tokenizer.decode(c.idsWithSpecial, skipSpecialTokens: true).debugDescription) != \(c.decodedSkip.debugDescription)"
                ),
                (
                    Array(tokenizer.decode(c.idsWithSpecial, skipSpecialTokens: false).utf8)
                        == Array(c.decodedKeep.utf8),
                    "keep \(tokenizer.decode(c.idsWithSpecial).debugDescription) != \(c.decodedKeep.debugDescription)"
                )
            ]
            for (ok, message) in checks where !ok {
                failures += 1
                XCTFail("\(label): \(message)", file: file, line: line)
            }
        }
        XCTAssertEqual(failures, 0, "\(name): \(failures) mismatches", file: file, line: line)
    }

    func testVicunaTinyFromTokenizerModel() throws { try check("vicuna-tiny") }
    func testLlama3TinyByteLevel() throws { try check("llama3-tiny") }
    func testPhi3TinyLegacyLayout() throws { try check("phi3-tiny") }

    /// One loaded tokenizer is shared across threads (it is immutable; every encode call has its own buffers).
    func testConcurrentUseGivesTheSameIds() throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/llama3-tiny"))
        let reference = try ReferenceFile.load("llama3-tiny")
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: reference.cases.count * 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: results.count) { i in
            results[i] = tokenizer.encode(reference.cases[i % reference.cases.count].text)
        }
        for (i, ids) in results.enumerated() {
            XCTAssertEqual(ids, reference.cases[i % reference.cases.count].idsWithSpecial)
        }
    }

    /// The public vocabulary API on the three tokenizers.
    func testVocabularyAccessors() throws {
        let vicuna = try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny"))
        XCTAssertEqual(vicuna.padTokenId, 0)  // special_tokens_map.json's pad "<unk>" overrides the config's null
        XCTAssertEqual(vicuna.unkTokenId, 0)
        XCTAssertEqual(vicuna.id(for: "▁world"), 479)
        XCTAssertEqual(vicuna.token(for: 479), "▁world")
        XCTAssertNil(vicuna.token(for: 700))
        XCTAssertTrue(vicuna.isSpecial(2))
        XCTAssertFalse(vicuna.isSpecial(479))

        let phi3 = try Tokenizer.load(directory: Fixtures.url("tokenizers/phi3-tiny"))
        XCTAssertEqual(phi3.padTokenId, 700)
        XCTAssertEqual(phi3.id(for: "<|end|>"), 707)
        XCTAssertFalse(phi3.isSpecial(2))  // "</s>" is not special in Phi-3's files
        let end = try XCTUnwrap(phi3.addedTokens.first { $0.content == "<|end|>" })
        XCTAssertTrue(end.rstrip && end.special && !end.normalized)

        let llama3 = try Tokenizer.load(directory: Fixtures.url("tokenizers/llama3-tiny"))
        XCTAssertNil(llama3.padTokenId)
        XCTAssertNil(llama3.unkTokenId)
        XCTAssertEqual(llama3.tokenizerClass, "PreTrainedTokenizerFast")
        XCTAssertEqual(llama3.tokens("Hello world"), ["Hello", "Ġworld"])
        XCTAssertEqual(llama3.tokens("Hi", addSpecialTokens: true), ["<|begin_of_text|>", "H", "i"])
    }
}
