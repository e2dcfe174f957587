import Foundation
import MGConfigs
import XCTest

/// `--set` patching, validation errors and `--config-file` loading name the key and value at fault.
final class TrainConfigPatchTests: XCTestCase {
    private let base = tiny_pretrain

    /// The error's description, or a failure if `body` did not throw.
    private func message(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func testSetNumberBoolStringAndNull() throws {
        let patched = try base.applying([
            "batch_size=4", "lr=2.5e-4", "pin_memory=true", "prompt_template=qwen_chat", "pretrained_pth=a/b.pth",
            "evaluate_max_tokens=7", "betas.1=0.95", "sampler=length_grouped", "seed=null"
        ])
        XCTAssertEqual(patched.batchSize, 4)
        XCTAssertEqual(patched.lr, 2.5e-4)
        XCTAssertTrue(patched.pinMemory)
        XCTAssertEqual(patched.promptTemplate, "qwen_chat")
        XCTAssertEqual(patched.pretrainedPth, "a/b.pth")
        XCTAssertEqual(patched.evaluateMaxTokens, 7)
        XCTAssertEqual(patched.betas, [0.9, 0.95])
        XCTAssertEqual(patched.sampler, .lengthGrouped)
        XCTAssertNil(patched.seed)
        XCTAssertEqual(try base.applying([]), base)
        XCTAssertEqual(try base.applying(["betas=[0.8, 0.9]"]).betas, [0.8, 0.9])
        XCTAssertEqual(try base.applying(["lr=1"]).lr, 1)  // an integer literal for a Double field
    }

    func testSetErrorsNameTheKey() {
        XCTAssertTrue(message { _ = try self.base.applying(["batch_sise=4"]) }.contains("batch_sise"))
        XCTAssertTrue(message { _ = try self.base.applying(["lr.x=4"]) }.contains("lr.x"))
        XCTAssertTrue(message { _ = try self.base.applying(["betas.5=0.1"]) }.contains("betas.5"))
        let wrongNumber = message { _ = try self.base.applying(["batch_size=many"]) }
        XCTAssertTrue(wrongNumber.contains("batch_size") && wrongNumber.contains("many"), wrongNumber)
        let wrongBool = message { _ = try self.base.applying(["pin_memory=yes"]) }
        XCTAssertTrue(wrongBool.contains("pin_memory") && wrongBool.contains("yes"), wrongBool)
        XCTAssertTrue(message { _ = try self.base.applying(["batch_size=1.5"]) }.contains("batch_size"))
        XCTAssertTrue(message { _ = try self.base.applying(["stage=finetune"]) }.contains("stage"))
        XCTAssertTrue(message { _ = try self.base.applying(["betas=0.9"]) }.contains("betas"))
        XCTAssertTrue(message { _ = try self.base.applying(["batch_size=null"]) }.contains("batch_size"))
        XCTAssertTrue(message { _ = try self.base.applying(["no_equals_sign"]) }.contains("no_equals_sign"))
    }

    func testValidationNamesFieldAndValue() {
        let cases: [(TrainConfig, String, String)] = [
            (base.with { $0.batchSize = 0 }, "batch_size", "0"),
            (base.with { $0.lr = 0 }, "lr", "0.0"),
            (base.with { $0.warmupRatio = 1 }, "warmup_ratio", "1.0"),
            (base.with { $0.warmupRatio = -0.1 }, "warmup_ratio", "-0.1"),
            (base.with { $0.promptTemplate = "alpaca" }, "prompt_template", "alpaca"),
            (base.with { $0.betas = [0.9] }, "betas", "0.9"),
            (
                base.with {
                    $0.stage = .sft; $0.pretrainedPth = nil
                }, "pretrained_pth", "null"
            )
        ]
        for (config, field, value) in cases {
            let text = message { try config.validate() }
            XCTAssertTrue(text.contains(field) && text.contains(value), text)
        }
        XCTAssertThrowsError(try base.validate(knownTemplates: ["qwen_chat"]))
        XCTAssertNoThrow(try base.with { $0.warmupRatio = 0 }.validate())
    }

    func testLoadJSONFileRoundTripsADump() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mgconfigs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for config in ConfigRegistry.all {
            let url = folder.appendingPathComponent("\(config.name).json")
            try config.jsonString().write(to: url, atomically: true, encoding: .utf8)
            XCTAssertEqual(try TrainConfig.load(jsonFile: url), config, config.name)
        }
        // A partial file keeps the base's other values; an unknown key is an error naming it.
        let partial = folder.appendingPathComponent("partial.json")
        try #"{"name": "mine", "batch_size": 2}"#.write(to: partial, atomically: true, encoding: .utf8)
        let loaded = try TrainConfig.load(jsonFile: partial, over: base)
        XCTAssertEqual(
            loaded,
            base.with {
                $0.name = "mine"; $0.batchSize = 2
            })
        let typo = folder.appendingPathComponent("typo.json")
        try #"{"batchsize": 2}"#.write(to: typo, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try TrainConfig.load(jsonFile: typo) }.contains("batchsize"))
        XCTAssertTrue(
            message { _ = try TrainConfig.load(jsonFile: folder.appendingPathComponent("absent.json")) }
                .contains("absent.json"))
    }

    func testDumpHasEveryKeyIncludingNulls() throws {
        let text = try base.jsonString()
        for key in TrainConfig.CodingKeys.allCases { XCTAssertTrue(text.contains("\"\(key.rawValue)\""), key.rawValue) }
        XCTAssertTrue(text.contains("\"pretrained_pth\" : null"), text)
    }
}
