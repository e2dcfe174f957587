import Foundation
import MGLLaVA

/// Checkpoints of random weights with real shapes and key names, written to disk so that the loading paths
/// (memory-mapped bf16 LLMs, sharded safetensors, the towers of a full `mgllava chat` run) can be measured at full
/// size without downloading the real ones.
public enum RandomCheckpoints {
    /// A random bf16 LLM with the config's shapes and key names, in ≤ 5 GB safetensors shards plus an index;
    /// `log` receives one line per shard written.
    public static func writeLLM(config: URL, to dir: URL, log: (String) -> Void) throws {
        let decoded = try LLMConfiguration.load(config)
        let skeleton = CausalLM(try LLMArchitecture(decoded, path: config.path))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: config, to: dir.appendingPathComponent("config.json"))
        let params = skeleton.namedParameters().map { ($0.0, $0.1.shape) }
        let shapes = Dictionary(params, uniquingKeysWith: { first, _ in first })
        let entries = params.map { (key: $0.0, byteCount: $0.1.reduce(1, *) * 2) }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        try SafeTensorsWriter.writeSharded(
            entries, maxShardBytes: 5_000_000_000, metadata: ["format": "pt"],
            indexSingleShard: true, to: dir
        ) { name in
            RandomWeights.bf16(shape: shapes[name] ?? [], state: &state)
        } didWriteShard: {
            log("wrote \($0)")
        }
    }
}
