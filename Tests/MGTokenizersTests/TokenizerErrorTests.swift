import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Broken or unsupported tokenizer folders fail with an error that names the file and the field.
final class TokenizerErrorTests: XCTestCase {
    private var directories: [URL] = []

    override func tearDown() {
        for url in directories { try? FileManager.default.removeItem(at: url) }
        directories = []
        super.tearDown()
    }

    /// A copy of the llama3-tiny folder whose tokenizer.json went through `edit`.
    private func llama3Copy(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mgtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        directories.append(directory)
        let source = Fixtures.url("tokenizers/llama3-tiny/tokenizer.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: directory.appendingPathComponent("tokenizer.json"))
        return directory
    }

    private func expectError(
        _ directory: URL, _ expected: (String) -> TokenizerError,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let path = directory.appendingPathComponent("tokenizer.json").path
        XCTAssertThrowsError(try Tokenizer.load(directory: directory), file: file, line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected(path), "\(error)", file: file, line: line)
        }
    }

    private func editModel(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var model = json["model"] as? [String: Any] ?? [:]
        edit(&model)
        json["model"] = model
    }

    func testMissingMerges() throws {
        let dir = try llama3Copy { json in editModel(&json) { $0.removeValue(forKey: "merges") } }
        expectError(dir) { .missingField(file: $0, field: "model.merges") }
        let description = "\(TokenizerError.missingField(file: "x/tokenizer.json", field: "model.merges"))"
        XCTAssertEqual(description, "x/tokenizer.json: missing \"model.merges\"")
    }

    func testUnknownModelType() throws {
        let dir = try llama3Copy { json in editModel(&json) { $0["type"] = "WordPiece" } }
        expectError(dir) { .unsupported(file: $0, field: "model.type", value: "model \"WordPiece\"") }
    }

    func testUnknownPreTokenizer() throws {
        let dir = try llama3Copy { json in
            json["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "BertPreTokenizer"]]]
        }
        expectError(dir) {
            .unsupported(
                file: $0, field: "pre_tokenizer.pretokenizers[0].type", value: "pre-tokenizer \"BertPreTokenizer\"")
        }
    }

    func testUnknownNormalizerAndDecoder() throws {
        let dir = try llama3Copy { json in json["normalizer"] = ["type": "Precompiled", "precompiled_charsmap": "AAAA"]
        }
        expectError(dir) { .unsupported(file: $0, field: "normalizer.type", value: "normalizer \"Precompiled\"") }
        let dir2 = try llama3Copy { json in json["decoder"] = ["type": "WordPiece", "prefix": "##"] }
        expectError(dir2) { .unsupported(file: $0, field: "decoder.type", value: "decoder \"WordPiece\"") }
    }

    func testMergeWithUnknownToken() throws {
        let dir = try llama3Copy { json in
            editModel(&json) { model in
                var merges = model["merges"] as? [Any] ?? []
                merges.append(["zz", "qq"])
                model["merges"] = merges
            }
        }
        expectError(dir) {
            .invalidField(
                file: $0, field: "model.merges",
                reason: "merge 644 (\"zz\", \"qq\") uses a token missing from the vocabulary")
        }
    }

    func testWrongTypes() throws {
        let dir = try llama3Copy { json in editModel(&json) { $0["vocab"] = ["a", "b"] } }
        expectError(dir) { .invalidField(file: $0, field: "model.vocab", reason: "expected an object of token → id") }
        let dir2 = try llama3Copy { json in editModel(&json) { $0["ignore_merges"] = "yes" } }
        expectError(dir2) { .invalidField(file: $0, field: "model.ignore_merges", reason: "expected true or false") }
    }

    func testInvalidJSONAndMissingFiles() throws {
        let dir = try llama3Copy { _ in }
        try Data("{\"model\": ".utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try Tokenizer.load(directory: dir)) { error in
            guard case .invalidJSON(let file, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertTrue(file.hasSuffix("tokenizer.json"))
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try Tokenizer.load(directory: dir)) { error in
            XCTAssertEqual(error as? TokenizerError, .noTokenizerFiles(directory: dir.path))
        }
    }

    func testCorruptTokenizerModelNamesTheFile() throws {
        let dir = try llama3Copy { _ in }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer.json"))
        let model = dir.appendingPathComponent("tokenizer.model")
        let bytes = try Data(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model"))
        try bytes.prefix(5000).write(to: model)
        XCTAssertThrowsError(try Tokenizer.load(directory: dir)) { error in
            guard case .malformedProtobuf(let file, let reason)? = error as? TokenizerError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, model.path)
            XCTAssertTrue(reason.contains("ModelProto"), reason)
        }
    }

    func testBadConfigField() throws {
        let dir = try llama3Copy { _ in }
        try Data("{\"add_bos_token\": \"yes\"}".utf8).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        XCTAssertThrowsError(try Tokenizer.load(directory: dir)) { error in
            XCTAssertEqual(
                error as? TokenizerError,
                .invalidField(
                    file: dir.appendingPathComponent("tokenizer_config.json").path,
                    field: "add_bos_token", reason: "expected true or false"))
        }
    }

    /// Random byte corruptions of tokenizer.json / tokenizer_config.json: an error naming the file, or a tokenizer
    /// that still encodes and decodes — never a crash.
    func testRandomCorruptionsNeverCrash() throws {
        let source = Fixtures.url("tokenizers/phi3-tiny")
        let json = try [UInt8](Data(contentsOf: source.appendingPathComponent("tokenizer.json")))
        let config = try [UInt8](Data(contentsOf: source.appendingPathComponent("tokenizer_config.json")))
        let dir = try llama3Copy { _ in }
        var rng = SplitMix64(seed: 11)
        var loaded = 0, rejected = 0
        for iteration in 0..<60 {
            var damaged = iteration % 2 == 0 ? json : config
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let replacements = Array(#"{}[]",:0129-eu\ "#.utf8)
                damaged[Int(rng.next() % UInt64(damaged.count))] =
                    replacements[Int(rng.next() % UInt64(replacements.count))]
            }
            try Data(iteration % 2 == 0 ? damaged : json).write(to: dir.appendingPathComponent("tokenizer.json"))
            try Data(iteration % 2 == 0 ? config : damaged).write(
                to: dir.appendingPathComponent("tokenizer_config.json"))
            do {
                let tokenizer = try Tokenizer.load(directory: dir)
                _ = tokenizer.decode(tokenizer.encode("Hello <|user|> wörld 東京 <s>"))
                loaded += 1
            } catch let error as TokenizerError {
                XCTAssertTrue(error.description.contains(dir.path), error.description)
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 0)
        XCTAssertEqual(loaded + rejected, 60)
    }
}
