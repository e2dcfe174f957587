import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// XTuner's llava_map_fn → template_map_fn → encode_fn for every template, against
/// Tests/Fixtures/reference/conversations-*.json (checked against upstream's functions): exact ids and labels.
final class ConversationEncodingTests: XCTestCase {
    func tokenizer(for template: String) throws -> Tokenizer {
        switch template {
        case "vicuna": return try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny"))
        case "phi3_chat": return try Tokenizer.load(directory: Fixtures.url("tokenizers/phi3-tiny"))
        case "llama3_chat": return try Tokenizer.load(directory: Fixtures.url("tokenizers/llama3-tiny"))
        default:
            // qwen_chat: llama3-tiny plus the two ChatML special tokens, as `tokenizer.add_special_tokens` adds them.
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-qwen-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let source = Fixtures.url("tokenizers/llama3-tiny")
            for name in ["tokenizer_config.json", "special_tokens_map.json"] {
                try FileManager.default.copyItem(
                    at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
            }
            var json =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: source.appendingPathComponent("tokenizer.json"))) as? [String: Any] ?? [:]
            var added = json["added_tokens"] as? [[String: Any]] ?? []
            for (content, id) in [("<|im_start|>", 916), ("<|im_end|>", 917)] {
                added.append([
                    "id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": true
                ])
            }
            json["added_tokens"] = added
            try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("tokenizer.json"))
            defer { try? FileManager.default.removeItem(at: dir) }
            return try Tokenizer.load(directory: dir)
        }
    }

    func messages(_ record: [String: Any]) -> [ConversationMessage] {
        (record["conversations"] as? [[String: Any]] ?? []).map {
            ConversationMessage(from: $0["from"] as? String ?? "", value: $0["value"] as? String ?? "")
        }
    }

    func testEveryTemplateMatchesXTuner() throws {
        var checked = 0
        for name in ["vicuna", "phi3_chat", "llama3_chat", "qwen_chat"] {
            let json =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: Fixtures.url("reference/conversations-\(name).json"))) as? [String: Any]
                ?? [:]
            guard let template = PromptTemplate.named(name), let records = json["records"] as? [[String: Any]] else {
                return XCTFail("\(name): fixture or template missing")
            }
            let tok = try tokenizer(for: name)
            for r in records {
                let record = r["record"] as? [String: Any] ?? [:]
                let id = "\(name)/\(record["id"] ?? "?")"
                let turns = try ConversationEncoder.llavaMap(messages(record), sample: id)
                let mapped = (r["after_llava_map_fn"] as? [[String: Any]] ?? []).map {
                    ConversationTurn(input: $0["input"] as? String ?? "", output: $0["output"] as? String ?? "")
                }
                XCTAssertEqual(turns, mapped, "\(id) llava_map_fn")
                let templated = ConversationEncoder.applyTemplate(turns, template: template)
                let expectedTemplated = (r["after_template_map_fn"] as? [[String: Any]] ?? []).map {
                    TemplatedTurn(
                        input: $0["input"] as? String ?? "", output: $0["output"] as? String ?? "",
                        needEOSToken: $0["need_eos_token"] as? Bool ?? false, separator: $0["sep"] as? String ?? "")
                }
                XCTAssertEqual(templated, expectedTemplated, "\(id) template_map_fn")
                let encoded = try ConversationEncoder.encode(templated, tokenizer: tok, sample: id)
                XCTAssertEqual(encoded.inputIds, r["input_ids"] as? [Int], "\(id) input_ids")
                XCTAssertEqual(encoded.labels, r["labels"] as? [Int], "\(id) labels")
                XCTAssertEqual(encoded.hasSupervisedTokens, r["kept"] as? Bool, "\(id) kept")
                if let ids48 = r["input_ids_max_length_48"] as? [Int] {
                    let short = try ConversationEncoder.encode(templated, tokenizer: tok, maxLength: 48, sample: id)
                    XCTAssertEqual(short.inputIds, ids48, "\(id) truncated ids")
                    XCTAssertEqual(short.labels, r["labels_max_length_48"] as? [Int], "\(id) truncated labels")
                }
                checked += 1
            }
        }
        XCTAssertEqual(checked, 32)
    }

    func testErrors() throws {
        XCTAssertThrowsError(
            try ConversationEncoder.llavaMap([ConversationMessage(from: "system", value: "x")], sample: "s1")
        ) {
            XCTAssertTrue("\($0)".contains("s1") && "\($0)".contains("system"))
        }
        let tok = try tokenizer(for: "vicuna")
        XCTAssertThrowsError(
            try ConversationEncoder.encode(
                ConversationEncoder.applyTemplate(
                    [ConversationTurn(input: "<image> and <image>", output: "ok")], template: .vicuna),
                tokenizer: tok, sample: "s2")
        ) { XCTAssertTrue("\($0)".contains("s2")) }
    }
}
