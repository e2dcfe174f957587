import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava convert IN OUT`: any readable checkpoint → safetensors. An MG-LLaVA `.pth` becomes a folder: the LLM as
/// an HF-style folder (`llm.` stripped, sharded safetensors + index; config and tokenizer files copied from
/// `--llm` when given) plus `mgllava_modules.safetensors` with `fuse_module`, `projector` and `bbox_projector`,
/// which upstream's `pth_to_hf` drops. Tensors keep their stored dtype.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint to safetensors (an MG-LLaVA .pth to an HF LLM folder + the MG-LLaVA modules).")

    @Argument(help: "Input checkpoint: a file or model folder in any format `inspect` reads.")
    var input: String

    @Argument(help: "Output: a .safetensors file, or a folder for an MG-LLaVA checkpoint.")
    var output: String

    @Option(
        help:
            "The base LLM folder (llm_name_or_path): its config and tokenizer files are copied next to the converted LLM."
    )
    var llm: String?

    @Option(help: "Largest shard of the converted LLM, in GB (as transformers' max_shard_size).")
    var maxShardGb: Double = 5

    static let moduleFileName = "mgllava_modules.safetensors"

    func validate() throws {
        guard maxShardGb > 0 else { throw ValidationError("--max-shard-gb must be positive, got \(maxShardGb)") }
    }

    func run() throws {
        let weights = try Checkpoint.open(URL(fileURLWithPath: input))
        let keys = weights.keys
        let isMGLLaVA = keys.contains { k in MGLLaVAModel.checkpointPrefixes.contains { Module.key(k, hasPrefix: $0) } }
        let out = URL(fileURLWithPath: output)
        if !isMGLLaVA || out.pathExtension == "safetensors" {
            var tensors: [String: Tensor] = [:]
            for key in keys { tensors[key] = try weights.tensor(key) }
            try SafeTensorsWriter.write(
                tensors, metadata: ["format": "pt", "converted_from": weights.description], to: out)
            print("wrote \(keys.count) tensors to \(out.path)")
            return
        }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // The MG-LLaVA modules.
        var modules: [String: Tensor] = [:]
        for key in keys where !Module.key(key, hasPrefix: "llm") { modules[key] = try weights.tensor(key) }
        if !modules.isEmpty {
            let url = out.appendingPathComponent(Self.moduleFileName)
            try SafeTensorsWriter.write(
                modules, metadata: ["format": "pt", "converted_from": weights.description], to: url)
            print("wrote \(modules.count) MG-LLaVA module tensors to \(url.path)")
        }
        // The LLM, as an HF folder.
        let llmKeys = keys.filter { Module.key($0, hasPrefix: "llm") }.filter { !CausalLM.isIgnoredKey($0) }
        if llmKeys.isEmpty {
            print("no llm.* weights in \(weights.description) (a pretrain checkpoint): only the modules were written")
            return
        }
        try writeShardedLLM(weights, keys: llmKeys, to: out)
        if let llm {
            let base = URL(fileURLWithPath: llm)
            for name in [
                "config.json", "generation_config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "added_tokens.json"
            ] {
                let src = base.appendingPathComponent(name), dst = out.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: src.path) else { continue }
                try? FileManager.default.removeItem(at: dst)
                try FileManager.default.copyItem(at: src, to: dst)
            }
            print("copied config and tokenizer files from \(base.path)")
        } else {
            print("note: pass --llm <base LLM folder> to copy config.json and the tokenizer next to the weights")
        }
    }

    /// Shards of at most `maxShardGb`, named and indexed as transformers does (`llm.` stripped from the keys).
    private func writeShardedLLM(_ weights: any TensorSource, keys: [String], to out: URL) throws {
        let entries = try keys.sorted().map { key in
            (key: String(key.dropFirst("llm.".count)), byteCount: try weights.info(for: key).byteCount)
        }
        let shards = try SafeTensorsWriter.writeSharded(
            entries, maxShardBytes: Int(maxShardGb * 1e9),
            metadata: ["format": "pt"], to: out
        ) { hfKey in
            try weights.tensor("llm." + hfKey)
        }
        print(
            "wrote the LLM (\(keys.count) tensors, \(shards.count) shard\(shards.count == 1 ? "" : "s")) to \(out.path)"
        )
    }
}
