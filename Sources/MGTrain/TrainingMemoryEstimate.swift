// What a training run will hold in memory, before anything is loaded (`mgllava train --estimate-memory`, the
// table in docs/training.md): the LLM's weights (in place as stored when frozen, float32 when trained), the
// frozen towers as stored, 16 bytes per trainable parameter (float32 value, gradient and AdamW's two moments) and
// the float32 activations of one micro-batch.
import Foundation
import MGJSON
import MGLLaVA

/// Peak memory of a training step, part by part (bytes).
public struct TrainingMemoryEstimate: Sendable, Equatable {
    /// How the LLM takes part.
    public enum Mode: String, Sendable {
        /// Every LLM weight trained (float32 copies).
        case full
        /// The LLM frozen (pretrain): its weights in place, as stored.
        case frozen
        /// LoRA adapters trained on a frozen base kept as stored (bf16, or a quantized GGUF: the QLoRA analogue).
        case lora = "LoRA"
    }

    public var mode: Mode
    /// The LLM's weights: stored bytes of a frozen base, or the float32 values of a trained LLM.
    public var llmWeightBytes: Int
    /// The frozen towers' weights as stored.
    public var towerBytes: Int
    /// Parameters the optimizer updates: LoRA adapters or the whole LLM, plus MG-LLaVA's modules.
    public var trainableParameters: Int
    /// Float32 activations kept for backward and the working set of one layer and the loss (one micro-batch).
    public var activationBytes: Int

    /// The trainable parameters' float32 values, gradients and AdamW moments; a trained LLM's values are in
    /// `llmWeightBytes` instead.
    public var trainingStateBytes: Int { 16 * trainableParameters - (mode == .full ? llmWeightBytes : 0) }

    public var totalBytes: Int { llmWeightBytes + towerBytes + trainingStateBytes + activationBytes }

    /// The parts from the shapes. `llmStoredBytes`: the LLM file's bytes (used when the LLM is frozen or under LoRA);
    /// `moduleParameters`: MG-LLaVA's fusion and projectors; `sequence`: tokens per sample (image, boxes and text);
    /// `checkpointing`: activation checkpointing of the decoder layers.
    public init(
        architecture a: LLMArchitecture, llmStoredBytes: Int, towerBytes: Int, moduleParameters: Int,
        trainLLM: Bool, lora: LoRAConfig?, sequence: Int, batch: Int, checkpointing: Bool
    ) {
        let llmParameters = Self.parameters(a)
        if let lora {
            mode = .lora
            llmWeightBytes = llmStoredBytes
            trainableParameters = Self.loraParameters(a, lora) + moduleParameters
        } else if trainLLM {
            mode = .full
            llmWeightBytes = 4 * llmParameters
            trainableParameters = llmParameters + moduleParameters
        } else {
            mode = .frozen
            llmWeightBytes = llmStoredBytes
            trainableParameters = moduleParameters
        }
        self.towerBytes = towerBytes
        // In Double: the largest settings a config accepts (batch_size and max_length in the millions) overflow Int.
        let (b, l, d, f) = (Double(batch), Double(sequence), Double(a.hiddenSize), Double(a.intermediateSize))
        let kv = Double(a.numKeyValueHeads * a.headDim), n = Double(a.numLayers)
        // One decoder layer's saved tensors: norms, q/k/v before and after RoPE, attention output and its
        // projection, residuals, gate/up/SiLU/product, and the attention probabilities (heads × L × L).
        let layer = 4 * b * (l * (10 * d + 3 * kv + 4 * f) + Double(a.numHeads) * l * l)
        // Under checkpointing only each layer's input is kept, and one layer is recomputed at a time (its saved
        // tensors plus as much again for their gradients); the logits, their log-softmax and gradient on top.
        let layers = checkpointing ? 4 * b * l * d * n + 2 * layer : n * layer + layer
        activationBytes = Int(min(layers + 3 * 4 * b * l * Double(a.vocabSize), Double(Int.max / 4)))
    }

    /// Parameters of the LLM (embeddings, layers, final norm, an untied head).
    public static func parameters(_ a: LLMArchitecture) -> Int {
        let d = a.hiddenSize
        let linears = Self.linears(a).reduce(0) { $0 + $1.input * $1.output }
        let head = a.tieWordEmbeddings ? 0 : a.vocabSize * d
        return a.vocabSize * d + head + d + a.numLayers * (linears + 2 * d)
    }

    /// Parameters of LoRA adapters on `lora`'s targets (every linear of the layers when it names none):
    /// r × (in + out) each; plus the whole modules it saves (`lm_head`, `embed_tokens`, a layer's linear).
    public static func loraParameters(_ a: LLMArchitecture, _ lora: LoRAConfig) -> Int {
        let targets = Self.linears(a).filter { lora.targetModules?.contains($0.name) ?? true }
        let adapters = a.numLayers * targets.reduce(0) { $0 + lora.r * ($1.input + $1.output) }
        let saved = (lora.modulesToSave ?? []).reduce(0) { total, name in
            switch name {
            case "embed_tokens": return total + a.vocabSize * a.hiddenSize
            case "lm_head": return total + (a.tieWordEmbeddings ? 0 : a.vocabSize * a.hiddenSize)
            default:
                return total + a.numLayers
                    * Self.linears(a).filter { $0.name == name }.reduce(0) { $0 + $1.input * $1.output }
            }
        }
        return adapters + saved
    }

    /// A decoder layer's linears as PEFT names them (the LoRA targets), with their shapes.
    static func linears(_ a: LLMArchitecture) -> [(name: String, input: Int, output: Int)] {
        let d = a.hiddenSize, f = a.intermediateSize, q = a.numHeads * a.headDim
        let kv = a.numKeyValueHeads * a.headDim
        switch a.layout {
        case .llama:
            return [
                ("q_proj", d, q), ("k_proj", d, kv), ("v_proj", d, kv), ("o_proj", q, d), ("gate_proj", d, f),
                ("up_proj", d, f), ("down_proj", f, d)
            ]
        case .phi3:
            return [("qkv_proj", d, q + 2 * kv), ("o_proj", q, d), ("gate_up_proj", d, 2 * f), ("down_proj", f, d)]
        }
    }

    /// The total, in GiB (MiB below one GiB).
    public var totalText: String { Self.size(totalBytes) }

    static func size(_ bytes: Int) -> String {
        let gib = Double(bytes) / Double(1 << 30)
        return gib >= 1 ? String(format: "%.2f GiB", gib) : String(format: "%.0f MiB", gib * 1024)
    }

    /// This run's line: mode, the parts and the total.
    public var row: String {
        let size = Self.size
        return "\(mode.rawValue): LLM weights \(size(llmWeightBytes)), towers \(size(towerBytes)), "
            + String(format: "%.1f M trainable parameters", Double(trainableParameters) / 1e6)
            + " (values, gradients, AdamW: \(size(trainingStateBytes))), activations \(size(activationBytes))"
            + " → about \(size(totalBytes))"
    }
}

extension TrainingMemoryEstimate {
    /// The estimate for `config` from the files' headers and configs only (nothing is loaded): the LLM folder or
    /// GGUF, the CLIP folder (its vision tower) and the open_clip folder (its trunk). A folder holding only its
    /// config (weights not downloaded yet) counts parameters from the config: the LLM in its `torch_dtype`
    /// (16-bit when it names none), the towers in float32 as their releases are stored. The sequence is the
    /// longest a sample can be: `max_length` text tokens with the image slot replaced by the CLIP patches, plus
    /// `limit_num` boxes.
    public init(config: TrainConfig, root: URL) throws {
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let llmURL = path(config.llmNameOrPath), clipURL = path(config.visualEncoderNameOrPath)
        let auxURL = path(config.visualEncoderAuxPath)
        let (architecture, llmBytes) = try TrainingRun.loading(.llmNameOrPath, config.llmNameOrPath) {
            () throws -> (LLMArchitecture, Int) in
            let (llmConfig, configPath) = try Self.llmConfiguration(llmURL)
            let a = try LLMArchitecture(llmConfig, path: configPath)
            guard CausalLM.isGGUF(llmURL) || Self.holdsWeights(llmURL) else {
                let width = llmConfig.torchDType.map { $0.contains("32") ? 4 : 2 } ?? 2
                return (a, width * Self.parameters(a))
            }
            return (a, try Checkpoint.open(llmURL).infos().reduce(0) { $0 + $1.byteCount })
        }
        let (clip, clipBytes) = try TrainingRun.loading(.visualEncoderNameOrPath, config.visualEncoderNameOrPath) {
            () throws -> (CLIPVisionConfiguration, Int) in
            let clip = try CLIPVisionConfiguration.load(clipURL)
            guard Self.holdsWeights(clipURL) else {
                return (clip, 4 * Self.count(CLIPVisionModel(CLIPVisionArchitecture(clip))))
            }
            let tower = try Checkpoint.open(clipURL).infos().filter { !CLIPVisionModel.isIgnoredKey($0.name) }
            return (clip, tower.reduce(0) { $0 + $1.byteCount })
        }
        let patches = clip.gridSize * clip.gridSize
        let (trunkDims, trunkBytes) = try TrainingRun.loading(.visualEncoderAuxPath, config.visualEncoderAuxPath) {
            () throws -> ([Int], Int) in
            guard Self.holdsWeights(auxURL) else {
                let openCLIP = try OpenCLIPConfiguration.load(auxURL)
                guard let a = ConvNeXtArchitecture(openCLIP) else {
                    throw ConfigError(
                        path: auxURL.path, key: "model_cfg.vision_cfg.timm_model_name",
                        reason: "\"\(openCLIP.timmModelName)\" is not a known ConvNeXt and there are no weights "
                            + "to read its shapes from")
                }
                return (a.dims, 4 * Self.count(ConvNeXtTrunk(a)))
            }
            let trunk = try Checkpoint.open(auxURL).infos().filter { !ConvNeXtTrunk.isIgnoredKey($0.name) }
            var shapes: [String: [Int]] = [:]
            for info in trunk { shapes[info.name] = info.shape }
            guard let a = ConvNeXtArchitecture.infer(fromShapes: shapes, prefix: ConvNeXtTrunk.keyPrefix) else {
                throw ConfigError(
                    path: auxURL.path, key: "visual.trunk.stages",
                    reason: "no ConvNeXt trunk keys (visual.trunk.stem.0.weight, visual.trunk.stages.N.blocks.M.gamma)")
            }
            return (a.dims, trunk.reduce(0) { $0 + $1.byteCount })
        }
        self.init(
            architecture: architecture, llmStoredBytes: llmBytes, towerBytes: clipBytes + trunkBytes,
            moduleParameters: MGLLaVAModel.moduleParameterCount(
                lowResDim: clip.hiddenSize, highResDims: trunkDims, llmHidden: architecture.hiddenSize)
                + (config.visualEncoderLoRA.map { Self.clipLoRAParameters(clip, $0) } ?? 0),
            trainLLM: !config.freezeLLM, lora: config.llmLoRA,
            sequence: config.maxLength - 1 + patches + config.limitNum, batch: config.batchSize,
            checkpointing: config.useActivationCheckpointing ?? true)
    }

    /// Parameters of `visual_encoder_lora`'s adapters on CLIP's linears (q/k/v/out_proj, fc1, fc2 of every layer, or
    /// the named ones). Their activations (CLIP then records a graph: ~1 GB for ViT-L at 336) are not counted.
    public static func clipLoRAParameters(_ clip: CLIPVisionConfiguration, _ lora: LoRAConfig) -> Int {
        let d = clip.hiddenSize, i = clip.intermediateSize
        let linears = [
            ("q_proj", d, d), ("k_proj", d, d), ("v_proj", d, d), ("out_proj", d, d), ("fc1", d, i), ("fc2", i, d)
        ]
        let chosen = linears.filter { lora.targetModules?.contains($0.0) ?? true }
        return clip.numHiddenLayers * chosen.reduce(0) { $0 + lora.r * ($1.1 + $1.2) }
    }

    /// Whether a model folder holds weight files (safetensors, PyTorch .bin/.pth) rather than only its config.
    static func holdsWeights(_ folder: URL) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.contains { name in [".safetensors", ".bin", ".pth", ".pt"].contains { name.hasSuffix($0) } }
    }

    /// Parameters of a module built at zero weights (its memory stays unmapped).
    static func count(_ module: Module) -> Int { module.parameters().reduce(0) { $0 + $1.count } }
}

extension TrainingMemoryEstimate {
    /// The memory table's row for `config`'s model: a full fine-tune, LoRA over the base as stored, and LoRA over a
    /// Q4_K_M GGUF of it (Q4_K for Phi-3, whose fused attn_qkv Q4_K_M would store as Q5_K) — the config's
    /// `llm_lora`, or XTuner's QLoRA recipe (r 512, α 256) when it has none. A config whose LLM already is a GGUF
    /// gives its own bytes for the quantized column and the 16-bit size for the other two.
    public static func row(config: TrainConfig, root: URL) throws -> (full: Self, lora: Self, quantizedLoRA: Self) {
        let lora = config.llmLoRA ?? LoRAConfig(r: 512, alpha: 256, dropout: 0.05)
        var full = config, adapted = config
        full.freezeLLM = false
        full.llmLoRA = nil
        adapted.freezeLLM = true
        adapted.llmLoRA = lora
        let fullEstimate = try Self(config: full, root: root)
        var base = try Self(config: adapted, root: root), quantized = base
        let a = try architecture(config: config, root: root)
        let sixteenBit = 2 * parameters(a)
        if CausalLM.isGGUF(TrainingRun.resolve(config.llmNameOrPath, root: root)) {
            base.llmWeightBytes = sixteenBit
        } else {
            quantized.llmWeightBytes = try quantizedBytes(a, type: a.layout == .phi3 ? .q4_K : .q4_K_M)
        }
        return (fullEstimate, base, quantized)
    }

    /// Bytes of the LLM's weights as `mgllava quantize --type TYPE` stores them (llama-quantize's choice per tensor;
    /// norms in float32).
    public static func quantizedBytes(_ a: LLMArchitecture, type: GGUFQuantizationType) throws -> Int {
        let family: LLMConfiguration.Family = a.layout == .phi3 ? .phi3 : .llama
        var tensors: [(String, [Int])] = [("token_embd.weight", [a.vocabSize, a.hiddenSize])]
        if !a.tieWordEmbeddings { tensors.append(("output.weight", [a.vocabSize, a.hiddenSize])) }
        tensors.append(("output_norm.weight", [a.hiddenSize]))
        let shapes = Dictionary(uniqueKeysWithValues: linears(a).map { ($0.name, [$0.output, $0.input]) })
        for layer in 0..<a.numLayers {
            for (hf, gguf) in GGUFTensorNames.layerNames(family) {
                let module = hf.split(separator: ".").last.map(String.init) ?? hf
                tensors.append(("blk.\(layer).\(gguf).weight", shapes[module] ?? [a.hiddenSize]))
            }
        }
        return try tensors.reduce(0) { total, tensor in
            let chosen = try type.type(
                forGGUF: tensor.0, shape: tensor.1, layers: a.numLayers, tiedEmbeddings: a.tieWordEmbeddings)
            return total + (chosen.type.byteCount(for: tensor.1.reduce(1, *)) ?? 0)
        }
    }

    /// The LLM architecture `config` names (from its config.json or GGUF metadata).
    static func architecture(config: TrainConfig, root: URL) throws -> LLMArchitecture {
        let url = TrainingRun.resolve(config.llmNameOrPath, root: root)
        return try TrainingRun.loading(.llmNameOrPath, config.llmNameOrPath) {
            let (configuration, path) = try llmConfiguration(url)
            return try LLMArchitecture(configuration, path: path)
        }
    }

    /// The LLM's configuration — a GGUF's metadata or the folder's config.json — and the path errors name.
    static func llmConfiguration(_ url: URL) throws -> (LLMConfiguration, String) {
        if CausalLM.isGGUF(url) { return (try GGUFLLM(path: url.path).configuration, url.path) }
        let configURL = url.appendingPathComponent("config.json")
        return (try LLMConfiguration.load(configURL), configURL.path)
    }
}
