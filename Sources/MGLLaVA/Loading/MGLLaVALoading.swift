import Foundation
import MGCheckpoint
import MGCLIP
import MGConvNeXt
import MGLLM

/// What `loadCheckpoint` took from a checkpoint.
public struct CheckpointLoadSummary: Sendable, Equatable {
    /// Module prefixes loaded (e.g. ["bbox_projector", "fuse_module", "projector"] for a pretrain `.pth`).
    public var loadedPrefixes: [String]
    public var tensorCount: Int
    /// Non-tensor globals the pickle referenced (mmengine metadata), kept inert.
    public var opaqueGlobals: [String]
    /// `llm.*` tensors the checkpoint holds but that were not loaded because the LLM came from a GGUF file.
    public var skippedLLMTensors: Int = 0
}

/// A model file or folder that cannot be loaded: which one, and why.
public struct MGLLaVALoadError: Error, CustomStringConvertible {
    public var source: String
    public var reason: String
    public init(source: String, reason: String) {
        self.source = source
        self.reason = reason
    }

    public var description: String { "\(source): \(reason)" }
}

extension MGLLaVAModel {
    /// Assembles MG-LLaVA from the paths upstream's configs name: `llm_name_or_path` (HF LLM folder),
    /// `visual_encoder_name_or_path` (HF CLIP folder), `visual_encoder_aux_path` (open_clip ConvNeXt folder) and
    /// optionally `pretrained_pth` (an MG-LLaVA `.pth` or our safetensors checkpoint of the trained modules).
    /// Modules the checkpoint does not hold keep upstream's initialisation from `seed`.
    /// `frozen`: for inference — everything is frozen and every weight is used in place in its stored dtype
    /// (no float32 copy of a 16-bit LLM). `llm` may be a llama.cpp GGUF file: the LLM weights then come from it
    /// (quantized or not), and the checkpoint's own `llm.*` tensors are left out (`summary` says how many).
    public static func load(
        llm: URL, visualEncoder: URL, visualEncoderAux: URL, pth: URL? = nil,
        seed: UInt64 = 0, frozen: Bool = false, lora: LoRAConfig? = nil, visualEncoderLoRA: LoRAConfig? = nil,
        summary: ((CheckpointLoadSummary) -> Void)? = nil
    ) throws -> MGLLaVAModel {
        let clip = try CLIPVisionModel.load(directory: visualEncoder)
        let convnext = try ConvNeXtTrunk.load(directory: visualEncoderAux)
        let decoder = try CausalLM.load(directory: llm, frozen: frozen)
        let model = MGLLaVAModel(visualEncoder: clip, visualEncoderAux: convnext, llm: decoder)
        if !(frozen && pth != nil) {
            var generator = Generator(seed: seed)
            model.initialize(generator: &generator)
        }
        if frozen { model.freeze() }
        // A LoRA run's checkpoint holds the adapters, so they are attached before it loads.
        if let lora {
            var generator = Generator(seed: seed)
            try decoder.attachLoRA(lora, generator: &generator)
        }
        if let visualEncoderLoRA {
            var generator = Generator(seed: seed)
            try clip.attachLoRA(visualEncoderLoRA, generator: &generator)
        }
        if let pth {
            let loaded = try model.loadCheckpoint(
                pth, inPlaceWhenFrozen: frozen, skippingLLM: CausalLM.isGGUF(llm))
            summary?(loaded)
        }
        return model
    }

    /// Loads the trained modules from an MG-LLaVA checkpoint (XTuner/mmengine `.pth` — its `state_dict` — or a
    /// safetensors file). Strict per module: every key of a module the checkpoint touches must be present with
    /// its shape, and keys outside `fuse_module`, `projector`, `bbox_projector`, `llm` are an error (upstream loads
    /// with strict=False and silently ignores mismatches; we name them). 16-bit weights are widened to float32.
    @discardableResult
    /// `skippingLLM`: leave the checkpoint's `llm.*` tensors out (the LLM came from elsewhere, a GGUF file).
    public func loadCheckpoint(
        _ url: URL, inPlaceWhenFrozen: Bool = false, skippingLLM: Bool = false
    ) throws -> CheckpointLoadSummary {
        let weights = try Checkpoint.open(url)
        var state = try weights.loadAll()
        var skipped = 0
        if skippingLLM {
            // (a LoRA run's adapters over that LLM stay)
            for key in state.keys where Module.key(key, hasPrefix: "llm") && !key.contains(".lora_") {
                state.removeValue(forKey: key)
                skipped += 1
            }
        }
        // Older transformers saved rotary buffers; they are not parameters.
        for key in state.keys where CausalLM.isIgnoredKey(key) { state.removeValue(forKey: key) }
        let own = Dictionary(namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        var problems: [String] = []
        // Beside upstream's modules, a `visual_encoder_lora` run's CLIP adapters.
        let prefixes = Self.checkpointPrefixes + ["visual_encoder"]
        let outside = state.keys.filter { key in !prefixes.contains { Module.key(key, hasPrefix: $0) } }
        if !outside.isEmpty {
            problems.append(
                "keys outside \(prefixes.joined(separator: ", ")): "
                    + outside.sorted().prefix(10).joined(separator: ", ") + (outside.count > 10 ? ", …" : ""))
        }
        var loaded: [String] = []
        for prefix in prefixes {
            let provided = state.keys.filter { Module.key($0, hasPrefix: prefix) }
            if provided.isEmpty { continue }
            loaded.append(prefix)
            var expected = own.keys.filter { Module.key($0, hasPrefix: prefix) }
            // A LoRA run saves the adapters (and its modules_to_save), not the frozen LLM or CLIP under them.
            if provided.contains(where: { $0.contains(".lora_") }) {
                let given = Set(provided)
                expected = expected.filter { $0.contains(".lora_") || given.contains($0) }
            }
            let missing = Set(expected).subtracting(provided), unexpected = Set(provided).subtracting(expected)
            if !missing.isEmpty {
                problems.append(
                    "missing \(prefix) keys: " + missing.sorted().prefix(10).joined(separator: ", ")
                        + (missing.count > 10 ? ", … (\(missing.count) in all)" : ""))
            }
            if !unexpected.isEmpty {
                problems.append(
                    "unexpected \(prefix) keys: " + unexpected.sorted().prefix(10).joined(separator: ", ")
                        + (unexpected.count > 10 ? ", … (\(unexpected.count) in all)" : ""))
            }
        }
        if !problems.isEmpty {
            throw MGLLaVALoadError(source: weights.description, reason: problems.joined(separator: "; "))
        }
        // Shapes and dtypes are checked by Module.load; every key is known to be one of ours by now.
        try load(state, strict: false, source: weights.description, inPlaceWhenFrozen: inPlaceWhenFrozen)
        return CheckpointLoadSummary(
            loadedPrefixes: loaded.sorted(), tensorCount: state.count,
            opaqueGlobals: weights.opaqueGlobals, skippedLLMTensors: skipped)
    }
}
