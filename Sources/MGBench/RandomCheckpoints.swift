import Foundation
import MGLLaVA

/// Checkpoints of random weights with real shapes and key names, written to disk so that the loading paths
/// (memory-mapped bf16 LLMs, sharded safetensors, the towers of a full `mgllava chat` run) can be measured at full
/// size without downloading the real ones.
public enum RandomCheckpoints {
    /// A random bf16 LLM with the config's shapes and key names, in ≤ 5 GB safetensors shards plus an index;
    /// `log` receives one line per shard written.
    public static func writeLLM(config: URL, to dir: URL, log: (String) -> Void) throws {
        let decoded = try DecoderConfig.load(config)
        let skeleton = CausalLM(try LLMArchitecture(decoded, path: config.path))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: config, to: dir.appendingPathComponent("config.json"))
        let params = skeleton.namedParameters().map { ($0.0, $0.1.shape) }
        var shards: [[(String, [Int])]] = [[]]
        var size = 0
        for (name, shape) in params {
            let bytes = shape.reduce(1, *) * 2
            if size + bytes > 5_000_000_000 && !shards[shards.count - 1].isEmpty { shards.append([]); size = 0 }
            shards[shards.count - 1].append((name, shape))
            size += bytes
        }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var weightMap: [String: String] = [:]
        var total = 0
        for (i, shard) in shards.enumerated() {
            let file = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            var tensors: [String: Tensor] = [:]
            for (name, shape) in shard {
                tensors[name] = RandomWeights.bf16(shape: shape, state: &state)
                weightMap[name] = file
                total += shape.reduce(1, *) * 2
            }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir.appendingPathComponent(file))
            log("wrote \(file)")
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"), options: .atomic)
    }
}
