import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Pipelines beyond the three tiny tokenizers (GPT-2 ByteLevel regex, Qwen-2 split pattern, every Split behaviour
/// incl. invert and NSRegularExpression patterns, Digits, NFKC, Metaspace split/always/never and its decoder),
/// checked against tokenizers 0.23.3 (pipeline-variants.json; see Tests/Fixtures/README.md).
final class PipelineVariantTests: XCTestCase {
    func testVariantsMatchTokenizers() throws {
        let url = Fixtures.url("tokenizers/pipeline-variants.json")
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertEqual(root.count, 6)
        for (name, value) in root.sorted(by: { $0.key < $1.key }) {
            let variant = try XCTUnwrap(value as? [String: Any])
            let tokenizer = try build(
                base: try XCTUnwrap(variant["base"] as? String),
                replacing: try XCTUnwrap(variant["replace"] as? [String: Any]))
            var failures = 0
            for c in try XCTUnwrap(variant["encode"] as? [[String: Any]]) {
                let text = try XCTUnwrap(c["text"] as? String)
                let expected = try XCTUnwrap(c["ids"] as? [Int])
                let got = tokenizer.encode(text, addSpecialTokens: false)
                if got != expected {
                    failures += 1
                    XCTFail("\(name) \(text.debugDescription): \(got) != \(expected)")
                }
            }
            for d in try XCTUnwrap(variant["decode"] as? [[String: Any]]) {
                let ids = try XCTUnwrap(d["ids"] as? [Int])
                let expected = try XCTUnwrap(d["skip_special_tokens"] as? String)
                XCTAssertEqual(
                    Array(tokenizer.decode(ids, skipSpecialTokens: true).unicodeScalars),
                    Array(expected.unicodeScalars), "\(name) \(ids)")
            }
            XCTAssertEqual(failures, 0, name)
        }
    }

    /// The base tokenizer.json with some top-level entries replaced, in a temporary folder.
    private func build(base: String, replacing: [String: Any]) throws -> Tokenizer {
        let source = Fixtures.url("tokenizers/\(base)/tokenizer.json")
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
        for (key, value) in replacing { json[key] = value }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mgtok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try JSONSerialization.data(withJSONObject: json).write(to: directory.appendingPathComponent("tokenizer.json"))
        return try Tokenizer.load(directory: directory)
    }
}
