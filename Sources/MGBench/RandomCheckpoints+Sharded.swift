import Foundation
import MGLLaVA

extension RandomCheckpoints {
    /// A sharded safetensors checkpoint of random bf16 tensors in `dir`: `gib` shards of 1 GiB, each 8 tensors of
    /// 4096 × 16384 (LLM-like shapes), plus the HF index — the input of `CheckpointOpenBench`.
    public static func writeSharded(_ dir: URL, gib: Int) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Each shard: 8 tensors of 4096 × 16384 bf16 = 128 MiB each, so 1 GiB shards.
        let rows = 4096, cols = 16384
        let entries = (0..<(gib * 8)).map { (key: "model.layers.\($0).weight", byteCount: rows * cols * 2) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        try SafeTensorsWriter.writeSharded(
            entries, maxShardBytes: 8 * rows * cols * 2, metadata: ["format": "pt"],
            indexSingleShard: true, to: dir
        ) { _ in
            let storage = Storage(uninitializedCount: rows * cols, dtype: .bfloat16)
            let p = storage.pointer.assumingMemoryBound(to: UInt64.self)
            // Four random bf16 values per 64-bit word; exponent bits forced to keep them small and finite.
            for i in 0..<(rows * cols / 4) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                p[i] = (state & 0x807F_807F_807F_807F) | 0x3C00_3C00_3C00_3C00
            }
            return Tensor(storage: storage, shape: [rows, cols])
        }
    }
}
