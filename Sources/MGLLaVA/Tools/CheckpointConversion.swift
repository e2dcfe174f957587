import Foundation

/// Any readable checkpoint → safetensors (`mgllava convert`). An MG-LLaVA `.pth` becomes a folder: the LLM as an
/// HF-style folder (`llm.` stripped, sharded safetensors + index; config and tokenizer files copied from the base
/// LLM folder when given) plus `mgllava_modules.safetensors` with `fuse_module`, `projector` and `bbox_projector`,
/// which upstream's `pth_to_hf` drops. Tensors keep their stored dtype.
public enum CheckpointConversion {
    /// The file the MG-LLaVA modules go to inside the output folder.
    public static let moduleFileName = "mgllava_modules.safetensors"

    /// Converts `input` into `output` (a `.safetensors` file, or a folder for an MG-LLaVA checkpoint); `log` gets
    /// one line per file written.
    public static func convert(
        input: URL, output: URL, baseLLM: URL? = nil, maxShardBytes: Int,
        log: (String) -> Void = { _ in }
    ) throws {
        let weights = try Checkpoint.open(input)
        let keys = weights.keys
        let isMGLLaVA = keys.contains { k in MGLLaVAModel.checkpointPrefixes.contains { Module.key(k, hasPrefix: $0) } }
        if !isMGLLaVA || output.pathExtension == "safetensors" {
            var tensors: [String: Tensor] = [:]
            for key in keys { tensors[key] = try weights.tensor(key) }
            try SafeTensorsWriter.write(
                tensors, metadata: ["format": "pt", "converted_from": weights.description], to: output)
            log("wrote \(keys.count) tensors to \(output.path)")
            return
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        // The MG-LLaVA modules.
        var modules: [String: Tensor] = [:]
        for key in keys where !Module.key(key, hasPrefix: "llm") { modules[key] = try weights.tensor(key) }
        if !modules.isEmpty {
            let url = output.appendingPathComponent(moduleFileName)
            try SafeTensorsWriter.write(
                modules, metadata: ["format": "pt", "converted_from": weights.description], to: url)
            log("wrote \(modules.count) MG-LLaVA module tensors to \(url.path)")
        }
        // The LLM, as an HF folder: shards of at most `maxShardBytes`, named and indexed as transformers does.
        let llmKeys = keys.filter { Module.key($0, hasPrefix: "llm") }.filter { !CausalLM.isIgnoredKey($0) }
        if llmKeys.isEmpty {
            log("no llm.* weights in \(weights.description) (a pretrain checkpoint): only the modules were written")
            return
        }
        let entries = try llmKeys.sorted().map { key in
            (key: String(key.dropFirst("llm.".count)), byteCount: try weights.info(for: key).byteCount)
        }
        let shards = try SafeTensorsWriter.writeSharded(
            entries, maxShardBytes: maxShardBytes, metadata: ["format": "pt"], to: output
        ) { hfKey in
            try weights.tensor("llm." + hfKey)
        }
        log(
            "wrote the LLM (\(llmKeys.count) tensors, \(shards.count) shard\(shards.count == 1 ? "" : "s")) to \(output.path)"
        )
        if let baseLLM {
            try copyConfigAndTokenizer(from: baseLLM, to: output)
            log("copied config and tokenizer files from \(baseLLM.path)")
        } else {
            log("note: pass --llm <base LLM folder> to copy config.json and the tokenizer next to the weights")
        }
    }

    /// Copies an HF LLM folder's config and tokenizer files (those it has) into `output`, replacing what is there.
    static func copyConfigAndTokenizer(from baseLLM: URL, to output: URL) throws {
        for name in [
            "config.json", "generation_config.json", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "added_tokens.json"
        ] {
            let src = baseLLM.appendingPathComponent(name), dst = output.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: src.path) else { continue }
            try? FileManager.default.removeItem(at: dst)
            try FileManager.default.copyItem(at: src, to: dst)
        }
    }
}
