import Foundation
import MGCheckpoint
import MGLLM

extension CausalLM {
    /// Loads an HF LLM folder (`config.json` + safetensors or `pytorch_model*.bin`, single or sharded), strictly.
    /// `frozen`: the model is frozen and its weights are used in place, in their stored dtype (bf16/f16 weights
    /// stay memory-mapped and are widened per tile by the kernels) — inference without a float32 copy.
    /// A `.gguf` file instead of a folder loads with `load(gguf:)` (always frozen: GGUF weights are for inference).
    public static func load(directory: URL, frozen: Bool = false) throws -> CausalLM {
        if isGGUF(directory) { return try load(gguf: directory) }
        let configURL = directory.appendingPathComponent("config.json")
        let config = try LLMConfiguration.load(configURL)
        let model = CausalLM(try LLMArchitecture(config, path: configURL.path))
        let weights = try Checkpoint.open(directory)
        if frozen { model.freeze() }
        try model.load(
            try weights.loadAll(), source: weights.description, ignoring: CausalLM.isIgnoredKey,
            inPlaceWhenFrozen: frozen)
        return model
    }
}

extension CausalLM {
    /// True when `url` is a file (not a folder) named `*.gguf` or starting with the GGUF magic.
    public static func isGGUF(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue
        else { return false }
        if url.pathExtension.lowercased() == "gguf" { return true }
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }
}
