import Foundation
import XCTest
import MGTestSupport

final class TokenizeCommandTests: XCTestCase {
    func json(_ r: CLIResult) throws -> Any { try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) }

    func testTextAndTemplate() throws {
        let tok = Fixtures.url("tokenizers/vicuna-tiny").path
        let plain = try runCLI(["tokenize", "--tokenizer", tok, "Hello world"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual((try json(plain) as? [String: Any])?["ids"] as? [Int], [1, 598, 466, 479])
        let templated = try runCLI(["tokenize", "--tokenizer", tok, "--template", "vicuna", "<image>\nIs it raining?"])
        XCTAssertEqual(templated.status, 0, templated.stderr)
        let ids = (try json(templated) as? [String: Any])?["ids"] as? [Int] ?? []
        XCTAssertEqual(Array(ids.prefix(5)), [1, 469, 620, 598, -200], "BOS, 'USER: ', the image slot")
    }

    func testConversationMatchesTheReference() throws {
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("reference/conversations-vicuna.json"))) as? [String: Any]
        let records = reference?["records"] as? [[String: Any]] ?? []
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("conversations.json")
        try JSONSerialization.data(withJSONObject: records.map { $0["record"] ?? [:] }).write(to: file)
        let r = try runCLI([
            "tokenize", "--tokenizer", Fixtures.url("tokenizers/vicuna-tiny").path, "--template", "vicuna",
            "--conversation", file.path
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try json(r) as? [[String: Any]] ?? []
        XCTAssertEqual(out.count, records.count)
        for (got, want) in zip(out, records) {
            XCTAssertEqual(got["input_ids"] as? [Int], want["input_ids"] as? [Int])
            XCTAssertEqual(got["labels"] as? [Int], want["labels"] as? [Int])
        }
        let bad = try runCLI([
            "tokenize", "--tokenizer", Fixtures.url("tokenizers/vicuna-tiny").path, "--template", "nope", "x"
        ])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("nope"), bad.stderr)
    }
}
