import Foundation
import XCTest

/// `mgllava configs list|dump`: names one per line; a dump is sorted JSON with the patch applied; errors name the culprit.
final class ConfigsCommandTests: XCTestCase {
    func testListAndDump() throws {
        let list = try runCLI(["configs", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let names = list.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(names.contains("fuse_more_vicuna7b_clip_L_14_336_sft_padding"), list.stdout)
        XCTAssertTrue(names.contains("tiny_pretrain"), list.stdout)

        let dump = try runCLI(["configs", "dump", "tiny_pretrain", "--set", "batch_size=3", "--set", "lr=0.01"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["batch_size"] as? Int, 3)
        XCTAssertEqual(object?["lr"] as? Double, 0.01)
        XCTAssertEqual(object?["name"] as? String, "tiny_pretrain")
        let keyLines = dump.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map(String.init)
        XCTAssertEqual(keyLines, keyLines.sorted(), "keys are sorted")
    }

    func testDumpErrors() throws {
        let unknown = try runCLI(["configs", "dump", "tiny_pretrian"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("tiny_pretrain"), unknown.stderr)
        let badKey = try runCLI(["configs", "dump", "tiny_pretrain", "--set", "batch=3"])
        XCTAssertNotEqual(badKey.status, 0)
        XCTAssertTrue(badKey.stderr.contains("batch"), badKey.stderr)
        let badType = try runCLI(["configs", "dump", "tiny_pretrain", "--set", "freeze_llm=maybe"])
        XCTAssertNotEqual(badType.status, 0)
        XCTAssertTrue(badType.stderr.contains("freeze_llm=maybe"), badType.stderr)
    }
}
