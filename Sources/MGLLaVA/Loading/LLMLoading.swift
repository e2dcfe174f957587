import Foundation
import MGCheckpoint
import MGLLM

extension CausalLM {
    /// Loads an HF LLM folder (`config.json` + safetensors or `pytorch_model*.bin`, single or sharded), strictly.
    /// `frozen`: the model is frozen and its weights are used in place, in their stored dtype (bf16/f16 weights
    /// stay memory-mapped and are widened per tile by the kernels) — inference without a float32 copy.
    public static func load(directory: URL, frozen: Bool = false) throws -> CausalLM {
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
