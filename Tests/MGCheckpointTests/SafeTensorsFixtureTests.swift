import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

/// Real files written by transformers / the reference writer (see Tests/Fixtures/checkpoints/README.md). Expected
/// values were computed with numpy from the same files.
final class SafeTensorsFixtureTests: XCTestCase {
    let llama3 = Fixtures.url("models/llama3-tiny/model.safetensors")
    let vicuna = Fixtures.url("models/vicuna-tiny")
    let mixed = checkpointFixtures.appendingPathComponent("mixed-dtypes.safetensors")

    func assertValues(
        _ t: Tensor, first: Float, seventh: Float, last: Float, sum: Double,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let values = t.toArray()
        XCTAssertEqual(values.first, first, file: file, line: line)
        XCTAssertEqual(values[7], seventh, file: file, line: line)
        XCTAssertEqual(values.last, last, file: file, line: line)
        XCTAssertEqual(
            values.reduce(0.0) { $0 + Double($1) }, sum, accuracy: 1e-9 * Double(values.count),
            file: file, line: line)
    }

    // MARK: - Single file

    func testLlama3TinyFile() throws {
        let file = try SafeTensorsFile(url: llama3)
        XCTAssertEqual(file.count, 21)
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.keys.first, "lm_head.weight")
        XCTAssertEqual(file.keys, file.keys.sorted())

        let k = try file.tensor("model.layers.0.self_attn.k_proj.weight")
        XCTAssertEqual(k.dtype, .float32)
        XCTAssertEqual(k.shape, [32, 64])  // GQA: 2 kv heads × 16
        XCTAssertTrue(file.holds(k), "HF files are aligned: zero-copy")
        assertValues(k, first: -0.2997745, seventh: 0.12287201, last: -0.057832677, sum: 7.118489256768953)

        let info = try file.info(for: "lm_head.weight")
        XCTAssertEqual(info.dtype, .F32)
        XCTAssertEqual(info.shape, [916, 64])
        XCTAssertEqual(info.dataOffsets, 0..<234_496)
        XCTAssertEqual(info.fileRange, (8 + 2144)..<(8 + 2144 + 234_496))
        assertValues(
            try file.tensor("lm_head.weight"), first: 0.038943112, seventh: -0.0021217482, last: 0.1441355,
            sum: -44.56809346686714)
        assertValues(
            try file.tensor("model.norm.weight"), first: 0.9823665, seventh: 0.96531385, last: 0.9920186,
            sum: 62.59096956253052)

        let all = try file.loadAll()
        XCTAssertEqual(all.count, 21)
        XCTAssertEqual(all["model.embed_tokens.weight"]?.shape, [916, 64])
        let copied = try file.tensor("model.embed_tokens.weight", copy: true)
        XCTAssertFalse(file.holds(copied))
        assertValues(copied, first: -0.17926684, seventh: 0.120537125, last: -0.016014706, sum: 30.472145358551643)
    }

    func testMixedDTypesFromReferenceWriter() throws {
        let file = try SafeTensorsFile(url: mixed)
        XCTAssertEqual(
            file.keys, ["a.i64", "b.f32", "c.i32", "d.bf16", "e.f16", "f.u8", "g.bool", "h.empty", "i.scalar"])
        XCTAssertEqual(file.metadata, ["format": "pt"])
        func load(_ key: String, _ dtype: DType, _ shape: [Int]) throws -> Tensor {
            let t = try file.tensor(key)
            XCTAssertEqual(t.dtype, dtype, key)
            XCTAssertEqual(t.shape, shape, key)
            XCTAssertTrue(t.count == 0 || file.holds(t), "\(key) should be zero-copy")
            return t
        }
        XCTAssertEqual(try load("a.i64", .int64, [2, 2]).toInt64Array(), [-1, 2, 1 << 40, -(1 << 62)])
        XCTAssertEqual(try load("b.f32", .float32, [3]).toArray(), [1.5, -2.25, 3.0e-5])
        XCTAssertEqual(try load("c.i32", .int32, [2]).toInt64Array(), [-7, 123_456])
        XCTAssertEqual(try load("d.bf16", .bfloat16, [3]).toArray(), [1.0, -0.5, 3.140625])
        XCTAssertEqual(try load("e.f16", .float16, [2, 1]).toArray(), [0.5, -65504])
        XCTAssertEqual(try load("f.u8", .uint8, [5]).toInt64Array(), [0, 1, 127, 128, 255])
        XCTAssertEqual(try load("g.bool", .bool, [3]).toInt64Array(), [1, 0, 1])
        XCTAssertEqual(try load("h.empty", .float32, [0, 4]).count, 0)
        XCTAssertEqual(try load("i.scalar", .float32, []).toArray(), [42])
    }

    // MARK: - Sharded

    func testVicunaTinyShardedCheckpoint() throws {
        let checkpoint = try ShardedSafeTensors.open(vicuna)
        XCTAssertEqual(checkpoint.indexURL?.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(checkpoint.count, 21)
        XCTAssertEqual(checkpoint.totalSize, 761_088)
        XCTAssertEqual(checkpoint.shardNames, ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
        XCTAssertEqual(checkpoint.weightMap["lm_head.weight"], "model-00002-of-00002.safetensors")
        try checkpoint.verify()

        // One tensor from each shard.
        let k = try checkpoint.tensor("model.layers.0.self_attn.k_proj.weight")
        XCTAssertEqual(k.shape, [64, 64])
        assertValues(k, first: -0.37399143, seventh: -0.25290638, last: 0.07363043, sum: -16.8474024515599)
        let head = try checkpoint.tensor("lm_head.weight")
        XCTAssertEqual(head.shape, [700, 64])
        assertValues(head, first: 0.033365216, seventh: 0.01563189, last: 0.08752634, sum: 40.51426783966144)
        assertValues(
            try checkpoint.tensor("model.norm.weight"), first: 1.1435558, seventh: 0.8687048, last: 0.93187714,
            sum: 64.30880898237228)
        XCTAssertEqual(try checkpoint.info(for: "model.embed_tokens.weight").shape, [700, 64])

        // Shards are opened once.
        XCTAssertTrue(
            try checkpoint.shard(named: "model-00001-of-00002.safetensors")
                === checkpoint.shard(for: "model.embed_tokens.weight"))

        let all = try checkpoint.loadAll()
        XCTAssertEqual(all.count, 21)
        XCTAssertEqual(all.values.reduce(0) { $0 + $1.count * $1.dtype.size }, 761_088, "total_size = data bytes")

        XCTAssertEqual(
            expectCheckpointError { try checkpoint.tensor("nope") },
            .tensorNotFound(path: vicuna.appendingPathComponent("model.safetensors.index.json").path, key: "nope"))
        // The index itself opens the same checkpoint.
        let viaIndex = try ShardedSafeTensors.open(vicuna.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertEqual(viaIndex.keys, checkpoint.keys)
    }

    func testSingleFileCheckpointThroughTheSameAPI() throws {
        let folder = try ShardedSafeTensors.open(llama3.deletingLastPathComponent())
        XCTAssertNil(folder.indexURL)
        XCTAssertNil(folder.totalSize)
        XCTAssertEqual(folder.count, 21)
        XCTAssertEqual(folder.shardNames, ["model.safetensors"])
        XCTAssertEqual(try folder.tensor("model.layers.0.self_attn.k_proj.weight").shape, [32, 64])
        let direct = try ShardedSafeTensors.open(llama3)
        XCTAssertEqual(direct.keys, folder.keys)
        try direct.verify()
    }

    // MARK: - Sharded: broken checkpoints

    /// A copy of vicuna-tiny with the index replaced by `index` (shards copied unless `copyShards` is false).
    func brokenCheckpoint(index: String, copyShards: Bool = true) throws -> URL {
        let folder = try makeTemporaryFolder(self)
        if copyShards {
            for name in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
                try FileManager.default.copyItem(
                    at: vicuna.appendingPathComponent(name),
                    to: folder.appendingPathComponent(name))
            }
        }
        try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        return folder
    }

    func testMissingShardFile() throws {
        let folder = try brokenCheckpoint(
            index: #"""
                {"metadata": {"total_size": 10}, "weight_map": {
                  "lm_head.weight": "model-00002-of-00002.safetensors",
                  "model.norm.weight": "model-00003-of-00003.safetensors"}}
                """#)
        let index = folder.appendingPathComponent("model.safetensors.index.json").path
        let error = expectCheckpointError { try ShardedSafeTensors.open(folder) }
        XCTAssertEqual(
            error,
            .missingShard(
                indexPath: index, key: "model.norm.weight",
                shard: "model-00003-of-00003.safetensors"))
        XCTAssertEqual(
            error?.description,
            "\(index): tensor 'model.norm.weight' is mapped to shard "
                + "'model-00003-of-00003.safetensors', which does not exist")
        // Names that would leave the folder count as missing.
        for shard in ["../model-00002-of-00002.safetensors", "/etc/hosts", "", "."] {
            let escaped = shard.replacingOccurrences(of: "/", with: "\\/")
            let bad = try brokenCheckpoint(index: #"{"weight_map": {"w": ""# + escaped + #""}}"#, copyShards: false)
            guard case .missingShard(_, "w", shard) = expectCheckpointError({ try ShardedSafeTensors.open(bad) }) else {
                XCTFail(shard); continue
            }
        }
    }

    func testShardLackingAKeyTheIndexNames() throws {
        let folder = try brokenCheckpoint(
            index: #"""
                {"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors",
                                "model.embed_tokens.weight": "model-00002-of-00002.safetensors"}}
                """#)
        let checkpoint = try ShardedSafeTensors.open(folder)
        XCTAssertNoThrow(try checkpoint.tensor("lm_head.weight"))
        let expected = CheckpointError.shardMissingTensor(
            indexPath: folder.appendingPathComponent("model.safetensors.index.json").path,
            shardPath: folder.appendingPathComponent("model-00002-of-00002.safetensors").path,
            key: "model.embed_tokens.weight")
        XCTAssertEqual(expectCheckpointError { try checkpoint.tensor("model.embed_tokens.weight") }, expected)
        XCTAssertEqual(expectCheckpointError { try checkpoint.verify() }, expected)
    }

    func testCorruptShardIsReportedWithItsPath() throws {
        let folder = try brokenCheckpoint(index: #"{"weight_map": {"w": "broken.safetensors"}}"#, copyShards: false)
        let shard = folder.appendingPathComponent("broken.safetensors")
        try Data(safetensorsBytes("{", data: [])).write(to: shard)
        let checkpoint = try ShardedSafeTensors.open(folder)
        guard case let .invalidHeaderJSON(path, _, _) = expectCheckpointError({ try checkpoint.tensor("w") }) else {
            return XCTFail()
        }
        XCTAssertEqual(path, shard.path)
    }

    func testMalformedIndex() throws {
        let cases: [(String, String)] = [
            ("", "the index must be an object"),
            ("[]", "the index must be an object"),
            (#"{"metadata": {"total_size": 1}}"#, "missing field 'weight_map'"),
            (#"{"weight_map": []}"#, "weight_map must be an object"),
            (#"{"weight_map": {"w": 3}}"#, "weight_map entry 'w' must be a string"),
            (#"{"weight_map": {"w": "a", "w": "b"}}"#, "duplicate key 'w' in weight_map"),
            (#"{"weight_map": {}, "weight_map": {}}"#, "duplicate key 'weight_map'"),
            (
                #"{"metadata": {"total_size": -1}, "weight_map": {}}"#,
                "metadata.total_size must be a non-negative integer"
            ),
            (#"{"metadata": {"total_size": "1"}, "weight_map": {}}"#, "metadata.total_size must be a number"),
            (#"{"metadata": 5, "weight_map": {}}"#, "metadata must be an object"),
            (#"{"weight_map": {}} x"#, "trailing characters"),
            (#"{"weight_map": {"w": "a"}"#, "expected ',' or '}'")
        ]
        for (text, fragment) in cases {
            let folder = try brokenCheckpoint(index: text, copyShards: false)
            let index = folder.appendingPathComponent("model.safetensors.index.json").path
            guard
                case let .invalidIndex(path, _, reason) = expectCheckpointError({ try ShardedSafeTensors.open(folder) })
            else { XCTFail(text); continue }
            XCTAssertEqual(path, index)
            XCTAssertTrue(reason.contains(fragment), "\(text): '\(reason)' lacks '\(fragment)'")
        }
        // Extra fields are ignored and a float total_size that is integral is accepted, as transformers does.
        let folder = try brokenCheckpoint(
            index: #"""
                {"metadata": {"total_size": 381472.0, "format": "pt"}, "other": [1, 2],
                 "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}
                """#)
        let checkpoint = try ShardedSafeTensors.open(folder)
        XCTAssertEqual(checkpoint.totalSize, 381_472)
        XCTAssertEqual(checkpoint.keys, ["lm_head.weight"])
    }

    func testFolderWithoutCheckpoint() throws {
        let folder = try makeTemporaryFolder(self)
        XCTAssertEqual(
            expectCheckpointError { try ShardedSafeTensors.open(folder) },
            .noCheckpoint(directory: folder.path, format: .safetensors))
        let missing = folder.appendingPathComponent("nothing-here")
        XCTAssertEqual(
            expectCheckpointError { try ShardedSafeTensors.open(missing) },
            .io(path: missing.path, operation: "open", errno: ENOENT))
    }
}
