import ArgumentParser
import Foundation
import MGBench

/// `mgllava bench checkpoint-open DIR [--generate-gb N]`: `CheckpointOpenBench` — opening a sharded multi-GB
/// checkpoint reads only the headers. With `--generate-gb` it first writes a sharded safetensors checkpoint of
/// random bf16 tensors (1 GiB shards, LLM-like shapes) in DIR; run the measurement as its own invocation afterwards
/// so that the generation's memory does not blur the resident-set figures.
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
            try RandomCheckpoints.writeSharded(dir, gib: gb)
            print("wrote \(gb) GiB checkpoint to \(dir.path); now run: mgllava bench checkpoint-open \(dir.path)")
            return
        }
        print(try CheckpointOpenBench.measure(dir).report)
    }
}
