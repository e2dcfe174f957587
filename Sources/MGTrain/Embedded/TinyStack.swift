// MGTrain — the embedded default's model folders (DESIGN §7): randomly initialised towers and LLM of the real
// architectures, written in the upstream formats (HF CLIP vision folder, open_clip folder, HF Llama folder with a
// tokenizer.json) so training loads them exactly as it loads downloaded weights.
import Foundation

/// Sizes of the tiny stack. The towers stay frozen and random (stage 1 and 2 both freeze them, SPEC §3.4); their
/// random features still separate flat colours and shapes, which is all the synthetic task needs.
public struct TinyStackSpec: Codable, Equatable, Sendable {
    public static let currentVersion = 4
    public var version = TinyStackSpec.currentVersion
    public var seed: UInt64 = 2024
    // CLIP ViT: 56 px / 14 = 4×4 patches → 16 image tokens.
    public var clipHidden = 64
    public var clipLayers = 3
    public var clipHeads = 4
    public var clipIntermediate = 256
    public var clipImageSize = 56
    public var clipPatchSize = 14
    // ConvNeXt stage widths/depths (the high-resolution path at image_size_aux).
    public var convnextDims = [16, 32, 48, 64]
    public var convnextDepths = [1, 1, 1, 1]
    // Llama decoder.
    public var llmHidden = 128
    public var llmLayers = 3
    public var llmHeads = 4
    public var llmIntermediate = 352
    public var llmMaxPositions = 512
    /// The LLM's `initializer_range`. HF's 0.02 suits wide models; at width 128 it leaves attention near uniform
    /// for a long time. Measured on the option look-up drill (text only, batch 8, lr 1e-3): at 0.02 nothing is
    /// learned in 500 steps, at 0.05 the answer-after-the-option-text form is learned in ~150, at 0.1 the direct
    /// letter answer (two attention hops) is learned in ~350.
    public var llmInitializerRange = 0.1

    public init() {}
}

/// The embedded default's random tiny towers and LLM, written in the upstream file formats.
public enum TinyStack {
    public static let specFile = "stack_spec.json"

    /// Whether `folder` holds complete model folders written with `spec`.
    public static func isComplete(_ folder: URL, spec: TinyStackSpec) -> Bool {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent(specFile)),
            let found = try? JSONDecoder().decode(TinyStackSpec.self, from: data)
        else { return false }
        return found == spec
    }

    /// Writes `llm/`, `clip/` and `convnext/` under `folder`, the tokenizer covering `phrases`, and the spec last.
    public static func write(to folder: URL, spec: TinyStackSpec, phrases: [String], units: [String] = []) throws {
        let fm = FileManager.default
        try? fm.removeItem(at: folder.appendingPathComponent(specFile))
        var generator = Generator(seed: spec.seed)

        // LLM: tokenizer first, the vocabulary size follows from it (rounded up to a multiple of 8 as real
        // checkpoints pad their embedding tables; the extra rows are never produced by the tokenizer).
        let llmDir = folder.appendingPathComponent("llm")
        let tokens = try TinyTokenizerBuilder.write(to: llmDir, phrases: phrases, units: units)
        let vocab = (tokens + 7) / 8 * 8
        let llmArch = LLMArchitecture(
            layout: .llama, vocabSize: vocab, hiddenSize: spec.llmHidden,
            intermediateSize: spec.llmIntermediate, numLayers: spec.llmLayers,
            numHeads: spec.llmHeads, numKeyValueHeads: spec.llmHeads, rmsNormEps: 1e-5,
            maxPositionEmbeddings: spec.llmMaxPositions)
        try writeWeights(
            CausalLM(llmArch), to: llmDir.appendingPathComponent("model.safetensors"),
            std: Float(spec.llmInitializerRange), &generator)
        try writeJSON(
            [
                "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
                "hidden_size": spec.llmHidden, "intermediate_size": spec.llmIntermediate,
                "num_hidden_layers": spec.llmLayers, "num_attention_heads": spec.llmHeads,
                "num_key_value_heads": spec.llmHeads, "max_position_embeddings": spec.llmMaxPositions,
                "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "bos_token_id": 1,
                "eos_token_id": 2, "pad_token_id": 0, "tie_word_embeddings": false, "attention_bias": false,
                "mlp_bias": false, "torch_dtype": "float32", "initializer_range": spec.llmInitializerRange
            ], to: llmDir.appendingPathComponent("config.json"))

        // CLIP vision tower (HF CLIPVisionModel layout).
        let clipDir = folder.appendingPathComponent("clip")
        try fm.createDirectory(at: clipDir, withIntermediateDirectories: true)
        let clipArch = CLIPVisionArchitecture(
            hiddenSize: spec.clipHidden, intermediateSize: spec.clipIntermediate,
            numHiddenLayers: spec.clipLayers, numAttentionHeads: spec.clipHeads,
            numChannels: 3, imageSize: spec.clipImageSize,
            patchSize: spec.clipPatchSize, layerNormEps: 1e-5,
            hiddenAct: "quick_gelu")
        try writeWeights(CLIPVisionModel(clipArch), to: clipDir.appendingPathComponent("model.safetensors"), &generator)
        try writeJSON(
            [
                "architectures": ["CLIPVisionModel"], "model_type": "clip_vision_model",
                "hidden_size": spec.clipHidden, "intermediate_size": spec.clipIntermediate,
                "num_hidden_layers": spec.clipLayers, "num_attention_heads": spec.clipHeads, "num_channels": 3,
                "image_size": spec.clipImageSize, "patch_size": spec.clipPatchSize, "hidden_act": "quick_gelu",
                "layer_norm_eps": 1e-5, "projection_dim": spec.clipHidden
            ], to: clipDir.appendingPathComponent("config.json"))
        try writeJSON(
            [
                "crop_size": ["height": spec.clipImageSize, "width": spec.clipImageSize], "do_center_crop": true,
                "do_normalize": true, "do_resize": true, "image_mean": ImageProcessor.openAIMean,
                "image_std": ImageProcessor.openAIStd, "resample": 3, "size": ["shortest_edge": spec.clipImageSize],
                "image_processor_type": "CLIPImageProcessor"
            ], to: clipDir.appendingPathComponent("preprocessor_config.json"))

        // ConvNeXt trunk (open_clip folder).
        let convDir = folder.appendingPathComponent("convnext")
        try fm.createDirectory(at: convDir, withIntermediateDirectories: true)
        let trunk = ConvNeXtTrunk(ConvNeXtArchitecture(depths: spec.convnextDepths, dims: spec.convnextDims))
        try writeWeights(trunk, to: convDir.appendingPathComponent("open_clip_pytorch_model.safetensors"), &generator)
        try writeJSON(
            [
                "model_cfg": [
                    "embed_dim": spec.convnextDims.last ?? 0,
                    "vision_cfg": [
                        "timm_model_name": "convnext_mgllava_tiny", "timm_model_pretrained": false,
                        "timm_pool": "", "timm_proj": "mlp", "image_size": 128
                    ] as [String: Any]
                ] as [String: Any],
                "preprocess_cfg": ["mean": ImageProcessor.openAIMean, "std": ImageProcessor.openAIStd]
            ], to: convDir.appendingPathComponent("open_clip_config.json"))

        try JSONEncoder().encode(spec).write(to: folder.appendingPathComponent(specFile), options: .atomic)
    }

    /// Fills every parameter of `module` as the upstream initialisers do in spirit (HF's normal(0, std) for
    /// weights and embeddings, zero biases, unit norm scales, timm's 1e-6 layer scale) and writes them.
    static func writeWeights(_ module: Module, to url: URL, std: Float = 0.02, _ generator: inout Generator) throws {
        var tensors: [String: Tensor] = [:]
        for (key, parameter) in module.namedParameters() {
            let shape = parameter.shape
            let leaf = key.split(separator: ".").last.map(String.init) ?? key
            if leaf == "gamma" {
                tensors[key] = Tensor.full(shape, 1e-6)
            } else if leaf == "bias" {
                tensors[key] = Tensor.zeros(shape)
            } else if shape.count == 1 && leaf == "weight" {
                // Every 1-D `weight` is a norm scale (linear, conv and embedding weights have ≥ 2 dims); names
                // alone would miss timm's `stem.1` and `downsample.0` LayerNorms.
                tensors[key] = Tensor.ones(shape)
            } else {
                tensors[key] = Tensor.randn(shape, std: std, generator: &generator)
            }
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: url)
    }

    static func writeJSON(_ value: [String: Any], to url: URL) throws {
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
            .write(to: url, options: .atomic)
    }
}
