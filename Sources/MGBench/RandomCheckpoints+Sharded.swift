import Foundation
import MGLLaVA

extension RandomCheckpoints {
    /// A sharded safetensors checkpoint of random bf16 tensors in `dir`: `gib` shards of 1 GiB, each 8 tensors of
    /// 4096 × 16384 (LLM-like shapes), plus the HF index — the input of `CheckpointOpenBench`.
    public static func writeSharded(_ dir: URL, gib: Int) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var weightMap: [String: String] = [:]
        var total = 0
        // Each shard: 8 tensors of 4096 × 16384 bf16 = 128 MiB each.
        let rows = 4096, cols = 16384
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for s in 0..<gib {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, gib)
            var tensors: [String: Tensor] = [:]
            for t in 0..<8 {
                let storage = Storage(uninitializedCount: rows * cols, dtype: .bfloat16)
                let p = storage.pointer.assumingMemoryBound(to: UInt64.self)
                // Four random bf16 values per 64-bit word; exponent bits forced to keep them small and finite.
                for i in 0..<(rows * cols / 4) {
                    state ^= state << 13; state ^= state >> 7; state ^= state << 17
                    p[i] = (state & 0x807F_807F_807F_807F) | 0x3C00_3C00_3C00_3C00
                }
                let key = "model.layers.\(s * 8 + t).weight"
                tensors[key] = Tensor(storage: storage, shape: [rows, cols])
                weightMap[key] = name
                total += rows * cols * 2
            }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir.appendingPathComponent(name))
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: dir.appendingPathComponent(ShardedSafeTensors.indexFileName), options: .atomic)
    }
}
