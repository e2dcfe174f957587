import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava bench checkpoint-open DIR [--generate-gb N]`: shows that opening a sharded multi-GB checkpoint reads
/// only the headers. With `--generate-gb` it first writes a sharded safetensors checkpoint of random bf16 tensors
/// (1 GiB shards, LLM-like shapes) in DIR; run the measurement as its own invocation afterwards so that the
/// generation's memory does not blur the resident-set figures.
struct CheckpointOpenBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint-open",
        abstract: "Open a sharded safetensors checkpoint: time, resident memory and bytes touched vs. its size.")

    @Argument(help: "Checkpoint folder (model.safetensors.index.json + shards).")
    var directory: String

    @Option(help: "Generate a checkpoint of this many GiB of random bf16 tensors in DIR first, then exit.")
    var generateGb: Int?

    func run() throws {
        let dir = URL(fileURLWithPath: directory)
        if let gb = generateGb {
            guard gb >= 1 && gb <= 64 else { throw ValidationError("--generate-gb must be in 1...64, got \(gb)") }
            try generate(dir, gib: gb)
            print("wrote \(gb) GiB checkpoint to \(dir.path); now run: mgllava bench checkpoint-open \(dir.path)")
            return
        }
        let rssBefore = Self.currentRSS()
        let t0 = BenchTiming.now()
        let checkpoint = try ShardedSafeTensors.open(dir)
        var bytes = 0
        for key in checkpoint.keys { bytes += try checkpoint.info(for: key).byteCount }
        let tOpen = BenchTiming.now() - t0
        let rssOpen = Self.currentRSS()
        // Touch one tensor fully (widen to f32) to show reads are per tensor.
        let first = checkpoint.keys[0]
        let t1 = BenchTiming.now()
        let widened = try checkpoint.tensor(first).float()
        let tOne = BenchTiming.now() - t1
        let rssOne = Self.currentRSS()
        print("checkpoint: \(checkpoint.shardNames.count) shards, \(checkpoint.keys.count) tensors, "
              + String(format: "%.2f GiB of tensor data", Double(bytes) / 1_073_741_824))
        print(String(format: "open + every header: %@; resident memory +%.1f MiB (%.4f%% of the data)",
                     BenchTiming.format(seconds: tOpen), Double(rssOpen - rssBefore) / 1_048_576,
                     100 * Double(rssOpen - rssBefore) / Double(bytes)))
        print(String(format: "read one tensor %@ %@ (%.0f MiB as f32): %@; resident +%.1f MiB", first,
                     "\(widened.shape)", Double(widened.count * 4) / 1_048_576, BenchTiming.format(seconds: tOne),
                     Double(rssOne - rssOpen) / 1_048_576))
    }

    private func generate(_ dir: URL, gib: Int) throws {
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

    /// Current resident set size (VmRSS), in bytes.
    static func currentRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0) * 1024
        }
        return 0
    }
}
