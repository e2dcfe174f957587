import Foundation
import MGTestSupport
import XCTest

@testable import MGTokenizers

/// The CLIP tokenizer as OWLv2 ships it (tokenizer.json with the `\s+` Replace normalizer, the "</w>" suffix and
/// CLIPTokenizerFast's decode) and as transformers converts it from vocab.json + merges.txt, checked id for id and
/// byte for byte against transformers 4.44.2 (clip-tiny-reference.json, made by
/// scripts/fixtures/tokenizers/make_clip_tokenizer_fixture.py).
final class CLIPTokenizerTests: XCTestCase {
    private struct Reference: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let ids_no_special: [Int]
            let slow_ids: [Int]
            let slow_agrees: Bool
            let processor_input_ids: [Int]
            let processor_attention_mask: [Int]
            let padded_truncated_ids: [Int]
            let padded_truncated_attention_mask: [Int]
            let decode: String
            let decode_skip_special: String
            let decode_cleanup: String
            let decode_padded_skip_special: String
        }
        let model_max_length: Int
        let pad_token: String
        let pad_token_id: Int
        let bos_token_id: Int
        let eos_token_id: Int
        let clean_up_tokenization_spaces: Bool
        let slow_disagreements: [String]
        let cases: [Case]
        let single_id_decodes: [String]
        let affix_cases: [AffixCase]
    }
    struct AffixCase: Decodable {
        let text: String
        let ids: [Int]
        let decode: String
    }

    private var directories: [URL] = []

    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
        directories = []
        super.tearDown()
    }

    private func reference() throws -> Reference {
        let data = try Data(contentsOf: Fixtures.url("tokenizers/clip-tiny-reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    private var fixture: URL { Fixtures.url("tokenizers/clip-tiny") }

    /// A copy of clip-tiny holding only `files`, each optionally rewritten by `edit`.
    private func copy(_ files: [String], edit: [String: (Data) throws -> Data] = [:]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mgclip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        directories.append(directory)
        for name in files {
            var data = try Data(contentsOf: fixture.appendingPathComponent(name))
            if let change = edit[name] { data = try change(data) }
            try data.write(to: directory.appendingPathComponent(name))
        }
        return directory
    }

    private static let slowFiles = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]

    /// tokenizer.json rewritten through `change` (parsed as a JSON object).
    private func editedJSON(_ change: @escaping (inout [String: Any]) -> Void) throws -> URL {
        try copy(
            Self.slowFiles + ["tokenizer.json"],
            edit: [
                "tokenizer.json": { data in
                    var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                    change(&json)
                    return try JSONSerialization.data(withJSONObject: json)
                }
            ])
    }

    private func checkParity(_ tokenizer: Tokenizer, _ ref: Reference, label: String) {
        XCTAssertEqual(tokenizer.modelMaxLength, ref.model_max_length, label)
        XCTAssertEqual(tokenizer.padToken, ref.pad_token, label)
        XCTAssertEqual(tokenizer.padTokenId, ref.pad_token_id, label)
        XCTAssertEqual(tokenizer.bosTokenId, ref.bos_token_id, label)
        XCTAssertEqual(tokenizer.eosTokenId, ref.eos_token_id, label)
        XCTAssertEqual(tokenizer.cleanUpTokenizationSpaces, ref.clean_up_tokenization_spaces, label)
        for c in ref.cases {
            let what = "\(label) \(c.text.debugDescription)"
            XCTAssertEqual(tokenizer.encode(c.text), c.ids, what)
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.ids_no_special, what)
            let padded = tokenizer.encodePadded(c.text, length: ref.model_max_length)
            XCTAssertEqual(padded?.ids, c.padded_truncated_ids, what)
            XCTAssertEqual(padded?.attentionMask, c.padded_truncated_attention_mask, what)
            XCTAssertEqual(padded?.truncated, c.processor_input_ids.count > ref.model_max_length, what)
            if padded?.truncated == false {
                // Owlv2Processor's own call (padding only) agrees whenever nothing had to be cut.
                XCTAssertEqual(padded?.ids, c.processor_input_ids, what)
                XCTAssertEqual(padded?.attentionMask, c.processor_attention_mask, what)
            }
            // Decoded strings compared as bytes: String equality would accept canonically equivalent text.
            XCTAssertEqual(Array(tokenizer.decode(c.ids).utf8), Array(c.decode.utf8), what)
            XCTAssertEqual(
                Array(tokenizer.decode(c.ids, skipSpecialTokens: true).utf8), Array(c.decode_skip_special.utf8), what)
            XCTAssertEqual(
                Array(tokenizer.decode(c.ids, cleanUpTokenizationSpaces: true).utf8), Array(c.decode_cleanup.utf8),
                what)
            XCTAssertEqual(
                Array(tokenizer.decode(c.padded_truncated_ids, skipSpecialTokens: true).utf8),
                Array(c.decode_padded_skip_special.utf8), what)
        }
        XCTAssertEqual(ref.single_id_decodes.count, tokenizer.vocabSize, label)
        for (id, expected) in ref.single_id_decodes.enumerated() {
            XCTAssertEqual(Array(tokenizer.decode([id]).utf8), Array(expected.utf8), "\(label) id \(id)")
        }
    }

    func testTokenizerJSONMatchesTransformers() throws {
        let ref = try reference()
        XCTAssertGreaterThanOrEqual(ref.cases.count, 30)
        checkParity(try Tokenizer.load(directory: fixture), ref, label: "tokenizer.json")
    }

    func testVocabAndMergesConversionMatchesTransformers() throws {
        let ref = try reference()
        let directory = try copy(Self.slowFiles)
        checkParity(try Tokenizer.load(directory: directory), ref, label: "vocab.json+merges.txt")
    }

    /// The fast and slow tokenizers of transformers agree except where the slow one (no ftfy) runs BERT's
    /// BasicTokenizer first; this package follows the fast one, and the reference lists exactly those cases.
    func testSlowTokenizerDisagreementsAreTheKnownOnes() throws {
        let ref = try reference()
        for c in ref.cases where !c.slow_agrees {
            XCTAssertTrue(ref.slow_disagreements.contains(c.text))
            XCTAssertNotEqual(c.ids, c.slow_ids)
        }
        XCTAssertEqual(ref.cases.filter { !$0.slow_agrees }.count, ref.slow_disagreements.count)
        XCTAssertTrue(ref.cases.filter(\.slow_agrees).allSatisfy { $0.ids == $0.slow_ids })
    }

    /// The query form OWLv2 uses: 16 ids, bos … eos then "!" (id 0) padding; a long query is cut so that it still
    /// ends with eos.
    func testQueryEncodingShape() throws {
        let tokenizer = try Tokenizer.load(directory: fixture)
        let eos = try XCTUnwrap(tokenizer.eosTokenId)
        let short = try XCTUnwrap(tokenizer.encodePadded("a photo of a cat", length: 16))
        XCTAssertEqual(short.ids.count, 16)
        XCTAssertEqual(short.ids.first, tokenizer.bosTokenId)
        XCTAssertEqual(short.ids.last, 0)
        XCTAssertFalse(short.truncated)
        let long = try XCTUnwrap(tokenizer.encodePadded(String(repeating: "traffic light ", count: 20), length: 16))
        XCTAssertEqual(long.ids.count, 16)
        XCTAssertEqual(long.ids.last, eos)
        XCTAssertEqual(long.attentionMask, [Int](repeating: 1, count: 16))
        XCTAssertTrue(long.truncated)
        XCTAssertNil(tokenizer.encodePadded("a cat", length: 1))
    }

    /// The suffix matters: the same files with end_of_word_suffix removed give other ids, so the parity test can
    /// fail.
    func testWithoutSuffixIdsDiffer() throws {
        let ref = try reference()
        let directory = try editedJSON { json in
            var model = json["model"] as? [String: Any] ?? [:]
            model["end_of_word_suffix"] = NSNull()
            json["model"] = model
        }
        let tokenizer = try Tokenizer.load(directory: directory)
        let differing = ref.cases.filter { !$0.ids_no_special.isEmpty && tokenizer.encode($0.text) != $0.ids }
        XCTAssertGreaterThan(differing.count, ref.cases.count / 2)
    }

    /// Older CLIP files lead the split pattern with the two special tokens, and some write ByteLevel without its
    /// regex or decode with BPEDecoder; none of that changes the ids.
    func testFileVariantsEncodeTheSame() throws {
        let ref = try reference()
        let directory = try editedJSON { json in
            let pattern =
                #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#
            json["pre_tokenizer"] = [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Removed", "invert": true],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]
                ]
            ]
            json["decoder"] = ["type": "BPEDecoder", "suffix": "</w>"]
        }
        let tokenizer = try Tokenizer.load(directory: directory)
        for c in ref.cases { XCTAssertEqual(tokenizer.encode(c.text), c.ids, c.text.debugDescription) }
    }

    /// continuing_subword_prefix ("##") and end_of_word_suffix together, unknown characters included, with the
    /// BPEDecoder: ids and decodes as tokenizers 0.19.1 gives them (bpe-affixes/tokenizer.json).
    func testPrefixAndSuffixMatchTokenizers() throws {
        let ref = try reference()
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("tokenizers/bpe-affixes"))
        XCTAssertGreaterThanOrEqual(ref.affix_cases.count, 30)
        for c in ref.affix_cases {
            XCTAssertEqual(tokenizer.encode(c.text), c.ids, c.text.debugDescription)
            XCTAssertEqual(Array(tokenizer.decode(c.ids).utf8), Array(c.decode.utf8), c.text.debugDescription)
        }
    }

    /// NFC matters: U+00E9 and e + U+0301 encode the same, and the `\s+` normalizer folds every whitespace run.
    func testNormalizerFoldsCanonicalFormsAndWhitespace() throws {
        let tokenizer = try Tokenizer.load(directory: fixture)
        XCTAssertEqual(tokenizer.encode("caf\u{E9}"), tokenizer.encode("cafe\u{301}"))
        XCTAssertEqual(tokenizer.encode("a\t\n  photo\u{3000}of"), tokenizer.encode("a photo of"))
        XCTAssertEqual(tokenizer.encode("A PHOTO"), tokenizer.encode("a photo"))
    }

    func testBPEDecoderFollowsHF() {
        // tokenizers 0.19.1: BPEDecoder().decode(["a</w>", "b", "c</w>", "d</w>"]) == "a bc d".
        XCTAssertEqual(Decoder.bpe(suffix: "</w>").decode(["a</w>", "b", "c</w>", "d</w>"]), "a bc d")
        XCTAssertEqual(Decoder.bpe(suffix: "</w>").decode(["x</w>y</w>"]), "xy")
    }

    func testUnsupportedReplacePatternTypeNamesFieldAndValue() throws {
        let directory = try editedJSON { json in
            json["normalizer"] = ["type": "Replace", "pattern": ["Glob": "*"], "content": " "]
        }
        let path = directory.appendingPathComponent("tokenizer.json").path
        XCTAssertThrowsError(try Tokenizer.load(directory: directory)) { error in
            XCTAssertEqual(
                error as? TokenizerError,
                .unsupported(
                    file: path, field: "normalizer.pattern",
                    value: "pattern \"Glob\" (only String and Regex patterns are implemented)"), "\(error)")
        }
    }

    func testUnsupportedReplaceRegexNamesThePattern() throws {
        let directory = try editedJSON { json in
            json["normalizer"] = ["type": "Replace", "pattern": ["Regex": "(unclosed"], "content": " "]
        }
        let path = directory.appendingPathComponent("tokenizer.json").path
        XCTAssertThrowsError(try Tokenizer.load(directory: directory)) { error in
            XCTAssertEqual(
                error as? TokenizerError,
                .unsupported(file: path, field: "normalizer.pattern.Regex", value: "(unclosed"), "\(error)")
        }
    }

    func testMalformedMergesLineNamesFileLineAndValue() throws {
        let directory = try copy(
            Self.slowFiles,
            edit: [
                "merges.txt": { data in
                    var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
                    lines[3] = "a b c"
                    return Data(lines.joined(separator: "\n").utf8)
                }
            ])
        let path = directory.appendingPathComponent("merges.txt").path
        XCTAssertThrowsError(try Tokenizer.load(directory: directory)) { error in
            XCTAssertEqual(
                error as? TokenizerError,
                .invalidField(
                    file: path, field: "line 4", reason: "\"a b c\" is not two tokens separated by a space"),
                "\(error)")
        }
    }

    func testMergeOfUnknownTokenNamesMergesFile() throws {
        let directory = try copy(
            Self.slowFiles,
            edit: [
                "merges.txt": { data in Data((String(decoding: data, as: UTF8.self) + "zzq qqz\n").utf8) }
            ])
        XCTAssertThrowsError(try Tokenizer.load(directory: directory)) { error in
            guard case .invalidField(let file, let field, let reason) = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, directory.appendingPathComponent("merges.txt").path)
            XCTAssertEqual(field, "merges")
            XCTAssertTrue(reason.contains("\"zzq\""), reason)
        }
    }

    func testBadVocabularyIdNamesVocabFile() throws {
        let directory = try copy(
            Self.slowFiles,
            edit: ["vocab.json": { _ in Data(#"{"a": "one"}"#.utf8) }])
        let path = directory.appendingPathComponent("vocab.json").path
        XCTAssertThrowsError(try Tokenizer.load(directory: directory)) { error in
            XCTAssertEqual(
                error as? TokenizerError, .invalidField(file: path, field: "a", reason: "expected a token id"),
                "\(error)")
        }
    }
}
