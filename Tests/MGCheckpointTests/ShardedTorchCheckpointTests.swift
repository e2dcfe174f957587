import Foundation
import XCTest
@testable import MGCheckpoint

/// `pytorch_model.bin.index.json` + `pytorch_model-0000N-of-0000M.bin`, as Vicuna-1.5 ships, built from small
/// torch.save files.
final class ShardedTorchCheckpointTests: XCTestCase {
    /// A torch.save file holding `tensors` (name → float32 values, 1-D), one storage each.
    func shard(_ tensors: [(String, [Float])]) -> [UInt8] {
        var p = PickleWriter()
        p.beginStateDict()
        var storages: [String: [UInt8]] = [:]
        for (i, (name, values)) in tensors.enumerated() {
            p.string(name)
            p.tensor(key: String(i), numel: values.count, shape: [values.count])
            storages[String(i)] = f32Bytes(values)
        }
        p.endStateDict()
        p.stop()
        return torchArchive(p.bytes, storages: storages, folder: "archive")
    }

    func write(_ bytes: [UInt8], _ name: String, in folder: URL) throws {
        try Data(bytes).write(to: folder.appendingPathComponent(name))
    }

    func index(_ map: [String: String], totalSize: Int? = 28) -> [UInt8] {
        let entries = map.keys.sorted().map { "\"\($0)\": \"\(map[$0] ?? "")\"" }.joined(separator: ", ")
        let metadata = totalSize.map { "\"metadata\": {\"total_size\": \($0)}, " } ?? ""
        return Array("{\(metadata)\"weight_map\": {\(entries)}}".utf8)
    }

    let first = "pytorch_model-00001-of-00002.bin", second = "pytorch_model-00002-of-00002.bin"

    /// Two shards and their index in a fresh folder.
    func twoShardFolder() throws -> URL {
        let folder = try makeTemporaryFolder(self)
        try write(shard([("model.embed.weight", [1, 2, 3]), ("model.norm.weight", [4])]), first, in: folder)
        try write(shard([("lm_head.weight", [5, 6, 7])]), second, in: folder)
        try write(
            index(["model.embed.weight": first, "model.norm.weight": first, "lm_head.weight": second]),
            ShardedTorchCheckpoint.indexFileName, in: folder)
        return folder
    }

    func testTwoShardIndex() throws {
        let folder = try twoShardFolder()
        let checkpoint = try ShardedTorchCheckpoint.open(folder)
        XCTAssertEqual(checkpoint.indexURL?.lastPathComponent, "pytorch_model.bin.index.json")
        XCTAssertEqual(checkpoint.keys, ["lm_head.weight", "model.embed.weight", "model.norm.weight"])
        XCTAssertEqual(checkpoint.count, 3)
        XCTAssertEqual(checkpoint.totalSize, 28)
        XCTAssertEqual(checkpoint.shardNames, [first, second])
        XCTAssertTrue(checkpoint.contains("model.norm.weight"))
        XCTAssertFalse(checkpoint.contains("model.layers.0.weight"))
        try checkpoint.verify()

        XCTAssertEqual(try checkpoint.tensor("model.embed.weight").toArray(), [1, 2, 3])
        XCTAssertEqual(try checkpoint.tensor("lm_head.weight").toArray(), [5, 6, 7])
        XCTAssertEqual(try checkpoint.info(for: "model.norm.weight").shape, [1])
        let all = try checkpoint.loadAll()
        XCTAssertEqual(all.count, 3)
        XCTAssertEqual(all["model.norm.weight"]?.toArray(), [4])
        // Each shard is opened once and shared.
        XCTAssertTrue(try checkpoint.shard(for: "model.embed.weight") === checkpoint.shard(named: first))
        XCTAssertEqual(
            expectTorchError { try checkpoint.tensor("missing") },
            .tensorNotFound(
                path: folder.appendingPathComponent(ShardedTorchCheckpoint.indexFileName).path,
                key: "missing"))

        // Opening the index file directly is the same.
        let direct = try ShardedTorchCheckpoint.open(
            folder.appendingPathComponent(ShardedTorchCheckpoint.indexFileName))
        XCTAssertEqual(direct.keys, checkpoint.keys)
    }

    func testSingleFileFolderAndFile() throws {
        let folder = try makeTemporaryFolder(self)
        try write(shard([("w", [1, 2])]), ShardedTorchCheckpoint.singleFileName, in: folder)
        // A single file wins over an index, as in transformers.
        try write(index(["w": "elsewhere.bin"]), ShardedTorchCheckpoint.indexFileName, in: folder)
        let checkpoint = try ShardedTorchCheckpoint.open(folder)
        XCTAssertNil(checkpoint.indexURL)
        XCTAssertEqual(checkpoint.keys, ["w"])
        XCTAssertEqual(checkpoint.weightMap, ["w": "pytorch_model.bin"])
        XCTAssertEqual(try checkpoint.tensor("w").toArray(), [1, 2])
        let file = try ShardedTorchCheckpoint.open(folder.appendingPathComponent("pytorch_model.bin"))
        XCTAssertEqual(try file.loadAll()["w"]?.toArray(), [1, 2])
    }

    func testIndexErrors() throws {
        let folder = try twoShardFolder()
        let indexURL = folder.appendingPathComponent(ShardedTorchCheckpoint.indexFileName)

        // A shard the index names but the folder lacks.
        try write(index(["a": first, "b": "pytorch_model-00003-of-00003.bin"]), "missing.json", in: folder)
        XCTAssertEqual(
            expectTorchError { try ShardedTorchCheckpoint.open(folder.appendingPathComponent("missing.json")) },
            .missingShard(
                indexPath: folder.appendingPathComponent("missing.json").path, key: "b",
                shard: "pytorch_model-00003-of-00003.bin"))
        // Shard names must stay beside the index.
        try write(index(["a": "../\(first)"]), "escape.json", in: folder)
        XCTAssertEqual(
            expectTorchError { try ShardedTorchCheckpoint.open(folder.appendingPathComponent("escape.json")) },
            .missingShard(
                indexPath: folder.appendingPathComponent("escape.json").path, key: "a",
                shard: "../\(first)"))
        // The index maps a key to a shard that does not hold it.
        try write(index(["lm_head.weight": first, "model.embed.weight": first]), "wrong.json", in: folder)
        let wrong = try ShardedTorchCheckpoint.open(folder.appendingPathComponent("wrong.json"))
        XCTAssertEqual(
            expectTorchError { try wrong.tensor("lm_head.weight") },
            .shardMissingTensor(
                indexPath: folder.appendingPathComponent("wrong.json").path,
                shardPath: folder.appendingPathComponent(first).path, key: "lm_head.weight"))
        XCTAssertNotNil(expectTorchError { try wrong.verify() })
        // Not JSON of the right form.
        try write(Array("{\"metadata\": {}}".utf8), "nomap.json", in: folder)
        XCTAssertEqual(
            expectTorchError { try ShardedTorchCheckpoint.open(folder.appendingPathComponent("nomap.json")) },
            .invalidIndex(
                path: folder.appendingPathComponent("nomap.json").path, offset: 0,
                reason: "missing field 'weight_map'"))
        try write(Array("{\"weight_map\": {\"a\": 1}}".utf8), "badmap.json", in: folder)
        let badMap = expectTorchError { try ShardedTorchCheckpoint.open(folder.appendingPathComponent("badmap.json")) }
        guard case .invalidIndex? = badMap else {
            return XCTFail("expected invalidIndex, got \(String(describing: badMap))")
        }
        // A broken shard is reported when first used, naming the shard.
        try write(Array(shard([("lm_head.weight", [5, 6, 7])]).prefix(100)), second, in: folder)
        let broken = try ShardedTorchCheckpoint(indexURL: indexURL)
        XCTAssertEqual(try broken.tensor("model.norm.weight").toArray(), [4])
        let error = expectTorchError { try broken.tensor("lm_head.weight") }
        XCTAssertTrue(
            error?.description.hasPrefix(folder.appendingPathComponent(second).path) ?? false,
            "\(String(describing: error))")

        let empty = try makeTemporaryFolder(self)
        XCTAssertEqual(
            expectTorchError { try ShardedTorchCheckpoint.open(empty) },
            .noCheckpoint(directory: empty.path, format: .torch))
    }
}
