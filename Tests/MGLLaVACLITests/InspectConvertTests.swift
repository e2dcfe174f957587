import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

final class InspectConvertTests: XCTestCase {
    func testInspectListsTensorsAndTotals() throws {
        let r = try runCLI(["inspect", Fixtures.url("models/mgllava-tiny/pretrain.pth").path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(json?["total_tensors"] as? Int, 20)
        let tensors = json?["tensors"] as? [[String: Any]] ?? []
        let gate = tensors.first { $0["name"] as? String == "fuse_module.gate.2.weight" }
        XCTAssertEqual(gate?["shape"] as? [Int], [1, 16])
        XCTAssertEqual(gate?["dtype"] as? String, "F32")
        XCTAssertTrue(
            (json?["opaque_globals"] as? [String] ?? []).contains("mmengine.logging.history_buffer.HistoryBuffer"))

        let folder = try runCLI(["inspect", Fixtures.url("models/vicuna-tiny").path])
        XCTAssertEqual(folder.status, 0, folder.stderr)
        XCTAssertTrue(folder.stdout.contains("llama decoder: 2 layers"), folder.stdout)
        XCTAssertTrue(folder.stdout.contains("total: 21 tensors"), folder.stdout)
    }

    func testInspectRefusesBadFilesWithAReason() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let truncated = dir.appendingPathComponent("truncated.pth")
        let bytes = try Data(contentsOf: Fixtures.url("models/mgllava-tiny/pretrain.pth"))
        try bytes.prefix(bytes.count * 55 / 100).write(to: truncated)
        let r = try runCLI(["inspect", truncated.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("truncated.pth") && r.stderr.contains("truncated"), r.stderr)
        let missing = try runCLI(["inspect", dir.appendingPathComponent("nope").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope"), missing.stderr)
    }

    func testConvertMGLLaVACheckpointToHFFolderAndModules() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("converted")
        let r = try runCLI([
            "convert", Fixtures.url("models/mgllava-tiny/sft.pth").path, out.path,
            "--llm", Fixtures.url("models/vicuna-tiny").path
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        // The LLM folder loads as an HF model with the SFT weights (bf16 kept as stored).
        let source = try Checkpoint.open(Fixtures.url("models/mgllava-tiny/sft.pth"))
        let llm = try CausalLM.load(directory: out)
        let embed = try source.tensor("llm.model.embed_tokens.weight").float()
        XCTAssertEqual(llm.embedTokens.weight.value.toArray(), embed.toArray())
        // The modules upstream's pth_to_hf drops are kept.
        let modules = try SafeTensorsFile(url: out.appendingPathComponent("mgllava_modules.safetensors"))
        XCTAssertEqual(modules.keys.count, 20)
        XCTAssertEqual(try modules.info(for: "fuse_module.gate.0.weight").dtype.rawValue, "BF16")
        XCTAssertEqual(
            try modules.tensor("projector.model.0.bias").float().toArray(),
            try source.tensor("projector.model.0.bias").float().toArray())
    }

    func testConvertShardsTheLLMAsTransformersDoes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("converted")
        // 0.0001 GB = 100 kB shards: the tiny LLM's bf16 weights span several.
        let r = try runCLI([
            "convert", Fixtures.url("models/mgllava-tiny/sft.pth").path, out.path, "--max-shard-gb", "0.0001"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let llm = try ShardedSafeTensors.open(out)
        XCTAssertGreaterThan(llm.shardNames.count, 1)
        XCTAssertEqual(llm.indexURL?.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(llm.shardNames.first, String(format: "model-00001-of-%05d.safetensors", llm.shardNames.count))
        XCTAssertTrue(r.stdout.contains("\(llm.shardNames.count) shards"), r.stdout)
        let source = try Checkpoint.open(Fixtures.url("models/mgllava-tiny/sft.pth"))
        let llmKeys = source.keys.filter { $0.hasPrefix("llm.") && !CausalLM.isIgnoredKey($0) }
        XCTAssertEqual(llm.keys, llmKeys.map { String($0.dropFirst(4)) }.sorted())
        XCTAssertEqual(llm.totalSize, try llmKeys.reduce(0) { $0 + (try source.info(for: $1).byteCount) })
        // Each shard within the limit, unless it holds one tensor larger than the limit.
        for shard in llm.shardNames {
            let keys = try llm.shard(named: shard).keys
            let bytes = try keys.reduce(0) { $0 + (try llm.info(for: $1).byteCount) }
            XCTAssertTrue(bytes <= 100_000 || keys.count == 1, "\(shard): \(keys.count) tensors, \(bytes) bytes")
        }
        for key in llmKeys {
            XCTAssertEqual(
                try llm.tensor(String(key.dropFirst(4))).float().toArray(),
                try source.tensor(key).float().toArray(), key)
        }
    }

    func testConvertAnyCheckpointToSafetensors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("convnext.safetensors")
        let r = try runCLI(["convert", Fixtures.url("models/convnext-tiny").path, out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let source = try Checkpoint.open(Fixtures.url("models/convnext-tiny"))
        let converted = try SafeTensorsFile(url: out)
        XCTAssertEqual(converted.keys, source.keys.sorted())
        for key in source.keys.prefix(10) {
            XCTAssertEqual(try converted.tensor(key).toArray(), try source.tensor(key).toArray(), key)
        }
    }
}
