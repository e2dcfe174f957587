import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

/// `SafeTensorsWriter.writeSharded`: HF's sharded layout, read back through `ShardedSafeTensors` and
/// `Checkpoint.open`.
final class SafeTensorsShardedWriterTests: XCTestCase {
    /// A float32 tensor of `count` distinct values.
    func values(_ count: Int, from start: Float) -> Tensor {
        Tensor((0..<count).map { start + Float($0) })
    }

    /// The index's `metadata.total_size` and `weight_map`.
    func readIndex(in folder: URL) throws -> (totalSize: Int?, weightMap: [String: String]) {
        let data = try Data(contentsOf: folder.appendingPathComponent("model.safetensors.index.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["metadata", "weight_map"])
        let metadata = try XCTUnwrap(json["metadata"] as? [String: Any])
        return (metadata["total_size"] as? Int, try XCTUnwrap(json["weight_map"] as? [String: String]))
    }

    func folderContents(_ folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    func testShardsFillInEntryOrderUpToTheLimit() throws {
        let folder = try makeTemporaryFolder(self)
        // Bytes: 40 + 40 + 20 fill the first shard exactly; 120 is over the limit and gets a shard of its own;
        // 4 + 96 fill the third. Keys run against sorted order: the entries' order decides, not the names.
        let sizes: [(String, Int)] = [("z.a", 10), ("y.b", 10), ("x.c", 5), ("w.d", 30), ("v.e", 1), ("u.f", 24)]
        var written: [String: Tensor] = [:]
        for (i, (key, count)) in sizes.enumerated() { written[key] = values(count, from: Float(i * 100)) }
        var asked: [String] = []
        let shards = try SafeTensorsWriter.writeSharded(
            sizes.map { (key: $0.0, byteCount: $0.1 * 4) }, maxShardBytes: 100, metadata: ["format": "pt"],
            to: folder
        ) { key in
            asked.append(key)
            return try XCTUnwrap(written[key])
        }

        let expectedGroups = [["x.c", "y.b", "z.a"], ["w.d"], ["u.f", "v.e"]]
        let expectedNames = (1...3).map { String(format: "model-%05d-of-00003.safetensors", $0) }
        XCTAssertEqual(shards, expectedNames)
        XCTAssertEqual(asked, sizes.map(\.0), "each tensor asked for once, in entry order")
        XCTAssertEqual(try folderContents(folder), expectedNames + ["model.safetensors.index.json"])
        for (name, group) in zip(expectedNames, expectedGroups) {
            let shard = try SafeTensorsFile(url: folder.appendingPathComponent(name))
            XCTAssertEqual(shard.keys, group, name)
            XCTAssertEqual(shard.metadata, ["format": "pt"], name)
        }

        // The index: total_size is the bytes of tensor data, weight_map every key → its shard.
        let index = try readIndex(in: folder)
        XCTAssertEqual(index.totalSize, 320)
        var expectedMap: [String: String] = [:]
        for (name, group) in zip(expectedNames, expectedGroups) { for key in group { expectedMap[key] = name } }
        XCTAssertEqual(index.weightMap, expectedMap)

        // Read back through the sharded reader and through Checkpoint.open.
        let checkpoint = try ShardedSafeTensors.open(folder)
        XCTAssertEqual(checkpoint.indexURL?.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(checkpoint.shardNames, expectedNames)
        XCTAssertEqual(checkpoint.totalSize, 320)
        XCTAssertEqual(checkpoint.keys, sizes.map(\.0).sorted())
        try checkpoint.verify()
        let source = try Checkpoint.open(folder)
        XCTAssertEqual(source.description, folder.path)
        XCTAssertEqual(try source.infos().map(\.byteCount), source.keys.map { (written[$0]?.count ?? 0) * 4 })
        XCTAssertEqual(try source.infos().map(\.dtype), Array(repeating: "F32", count: sizes.count))
        let all = try source.loadAll()
        XCTAssertEqual(Set(all.keys), Set(written.keys))
        for (key, tensor) in written {
            XCTAssertEqual(all[key]?.shape, tensor.shape, key)
            XCTAssertEqual(all[key]?.toArray(), tensor.toArray(), key)
        }
    }

    func testOneShardIsAPlainFileUnlessAnIndexIsAskedFor() throws {
        let tensors = ["b": values(3, from: 1), "a": values(2, from: 7)]
        let plain = try makeTemporaryFolder(self)
        let names = try SafeTensorsWriter.writeSharded(
            tensors, maxShardBytes: 1 << 20, metadata: ["format": "pt"],
            to: plain)
        XCTAssertEqual(names, ["model.safetensors"])
        XCTAssertEqual(try folderContents(plain), ["model.safetensors"])
        // The same bytes as a plain write.
        XCTAssertEqual(
            Array(try Data(contentsOf: plain.appendingPathComponent("model.safetensors"))),
            try SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt"]))

        let indexed = try makeTemporaryFolder(self)
        let shard = "model-00001-of-00001.safetensors"
        XCTAssertEqual(
            try SafeTensorsWriter.writeSharded(
                tensors, maxShardBytes: 1 << 20, indexSingleShard: true,
                to: indexed), [shard])
        XCTAssertEqual(try folderContents(indexed), [shard, "model.safetensors.index.json"])
        let index = try readIndex(in: indexed)
        XCTAssertEqual(index.totalSize, 20)
        XCTAssertEqual(index.weightMap, ["a": shard, "b": shard])
        XCTAssertEqual(try SafeTensorsFile(url: indexed.appendingPathComponent(shard)).metadata, [:])
        XCTAssertEqual(try ShardedSafeTensors.open(indexed).tensor("b").toArray(), [1, 2, 3])
    }

    func testDictionarySplitsInKeyOrder() throws {
        let folder = try makeTemporaryFolder(self)
        let tensors = ["c": values(2, from: 5), "a": values(2, from: 1), "b": values(2, from: 3)]
        let names = try SafeTensorsWriter.writeSharded(tensors, maxShardBytes: 16, to: folder)
        XCTAssertEqual(names, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        XCTAssertEqual(try readIndex(in: folder).weightMap, ["a": names[0], "b": names[0], "c": names[1]])
        let checkpoint = try ShardedSafeTensors.open(folder)
        XCTAssertEqual(try checkpoint.tensor("c").toArray(), [5, 6])
    }

    func testRefusedWritesLeaveNoIndex() throws {
        let folder = try makeTemporaryFolder(self)
        let entries = [(key: "a", byteCount: 8), (key: "b", byteCount: 8), (key: "a", byteCount: 8)]
        XCTAssertEqual(
            expectCheckpointError {
                try SafeTensorsWriter.writeSharded(entries, maxShardBytes: 8, to: folder) { _ in self.values(2, from: 0)
                }
            }, .invalidWrite(path: folder.path, reason: "tensor 'a' is listed twice"))
        XCTAssertEqual(
            expectCheckpointError {
                try SafeTensorsWriter.writeSharded(["a": self.values(2, from: 0)], maxShardBytes: 0, to: folder)
            }, .invalidWrite(path: folder.path, reason: "the shard size limit must be positive, got 0"))
        XCTAssertEqual(try folderContents(folder), [])

        // A tensor that cannot be produced stops the write before the index: the shards already written stay,
        // but no index names them.
        struct Unavailable: Error {}
        XCTAssertThrowsError(
            try SafeTensorsWriter.writeSharded(
                Array(entries.prefix(2)), maxShardBytes: 8,
                to: folder
            ) { key in
                guard key == "a" else { throw Unavailable() }
                return self.values(2, from: 0)
            }
        ) { XCTAssertTrue($0 is Unavailable, "\($0)") }
        XCTAssertEqual(try folderContents(folder), ["model-00001-of-00002.safetensors"])
        XCTAssertThrowsError(try ShardedSafeTensors.open(folder))
    }
}
