import Foundation

// Architecture configs decoded from checkpoint folders, as transformers / open_clip read them: unknown fields are
// ignored, optional fields take transformers' defaults, and the fields that fix the architecture's size are
// required (a truncated config must not silently build a default-sized model).

// MARK: - Decoder-only LLMs (LlamaForCausalLM: Vicuna, Llama-3, Yi; Phi3ForCausalLM)

/// An HF `rope_scaling` object as the file states it (interpreted by the LLM's architecture).
public struct RopeScaling: Sendable, Equatable, Codable {
    /// transformers' `rope_type` (older files: `type`): "default", "linear", "dynamic", "llama3", "longrope", "su", …
    public var type: String
    public var factor: Double
    /// Llama-3.1 style ("llama3") parameters.
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    /// Phi-3 long-context ("longrope"/"su") per-frequency factors.
    public var shortFactor: [Double]?
    public var longFactor: [Double]?
}

/// A decoder-only LLM's HF `config.json` (Llama family or Phi-3), every field the model needs, checked.
public struct DecoderConfig: Sendable, Equatable, Codable {
    /// Which weight layout the file's `model_type` means.
    public enum Family: String, Sendable, Codable { case llama, phi3 }

    public var family: Family
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var originalMaxPositionEmbeddings: Int?
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var tieWordEmbeddings: Bool
    public var slidingWindow: Int?
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// `torch_dtype` (or transformers 5's `dtype`) of the stored weights, if the file says.
    public var torchDType: String?

    /// Reads `config.json` of an HF LLM folder (or the file itself).
    public static func load(_ url: URL) throws -> DecoderConfig {
        let file = url.hasDirectoryPath || isDirectory(url) ? url.appendingPathComponent("config.json") : url
        return try DecoderConfig(try ConfigObject.load(file))
    }

    public init(_ c: ConfigObject) throws {
        let modelType = try c.string("model_type")
        switch modelType {
        case "llama", "mistral", "yi": family = .llama
        case "phi3": family = .phi3
        default:
            throw ConfigError(
                path: c.path, key: "model_type",
                reason: "unsupported model type \"\(modelType)\" (supported: llama, phi3)")
        }
        vocabSize = try c.int("vocab_size")
        hiddenSize = try c.int("hidden_size")
        intermediateSize = try c.int("intermediate_size")
        numHiddenLayers = try c.int("num_hidden_layers")
        numAttentionHeads = try c.int("num_attention_heads")
        numKeyValueHeads = try c.int("num_key_value_heads", default: numAttentionHeads)
        headDim = try c.int("head_dim", default: numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        hiddenAct = try c.string("hidden_act", default: "silu")
        // transformers' defaults per family.
        maxPositionEmbeddings = try c.int("max_position_embeddings", default: family == .phi3 ? 4096 : 2048)
        originalMaxPositionEmbeddings =
            c.has("original_max_position_embeddings")
            ? try c.int("original_max_position_embeddings") : nil
        rmsNormEps = try c.double("rms_norm_eps", default: family == .phi3 ? 1e-5 : 1e-6)
        ropeTheta = try c.double("rope_theta", default: 10000)
        attentionBias = try c.bool("attention_bias", default: false)
        mlpBias = try c.bool("mlp_bias", default: false)
        tieWordEmbeddings = try c.bool("tie_word_embeddings", default: false)
        slidingWindow = c.has("sliding_window") ? try c.int("sliding_window") : nil
        bosTokenId = c.has("bos_token_id") ? try c.int("bos_token_id") : (family == .phi3 ? 1 : 1)
        eosTokenIds = try c.ints("eos_token_id", default: family == .phi3 ? [32000] : [2])
        padTokenId = c.has("pad_token_id") ? try c.int("pad_token_id") : (family == .phi3 ? 32000 : nil)
        torchDType = c.has("torch_dtype") ? try c.string("torch_dtype") : (c.has("dtype") ? try c.string("dtype") : nil)
        if let rs = try c.object("rope_scaling") {
            let type = try rs.string("rope_type", default: try rs.string("type", default: "default"))
            ropeScaling = RopeScaling(
                type: type, factor: try rs.double("factor", default: 1),
                lowFreqFactor: rs.has("low_freq_factor") ? try rs.double("low_freq_factor") : nil,
                highFreqFactor: rs.has("high_freq_factor") ? try rs.double("high_freq_factor") : nil,
                originalMaxPositionEmbeddings: rs.has("original_max_position_embeddings")
                    ? try rs.int("original_max_position_embeddings") : nil,
                shortFactor: rs.has("short_factor") ? try rs.doubles("short_factor", default: []) : nil,
                longFactor: rs.has("long_factor") ? try rs.doubles("long_factor", default: []) : nil)
        } else {
            ropeScaling = nil
        }
        try validate(c.path)
    }

    private func validate(_ path: String) throws {
        func positive(_ key: String, _ v: Int) throws {
            if v <= 0 { throw ConfigError(path: path, key: key, reason: "must be positive, found \(v)") }
        }
        try positive("vocab_size", vocabSize)
        try positive("hidden_size", hiddenSize)
        try positive("intermediate_size", intermediateSize)
        try positive("num_hidden_layers", numHiddenLayers)
        try positive("num_attention_heads", numAttentionHeads)
        try positive("num_key_value_heads", numKeyValueHeads)
        try positive("head_dim", headDim)
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw ConfigError(
                path: path, key: "num_key_value_heads",
                reason: "\(numKeyValueHeads) does not divide num_attention_heads \(numAttentionHeads)")
        }
        if headDim % 2 != 0 {
            throw ConfigError(
                path: path, key: "head_dim", reason: "rotary embeddings need an even head_dim, found \(headDim)")
        }
        if !(rmsNormEps > 0) {
            throw ConfigError(path: path, key: "rms_norm_eps", reason: "must be positive, found \(rmsNormEps)")
        }
        if !(ropeTheta > 0) {
            throw ConfigError(path: path, key: "rope_theta", reason: "must be positive, found \(ropeTheta)")
        }
    }
}

// MARK: - CLIP vision tower (HF CLIPModel / CLIPVisionModel config)

/// The vision half of an HF CLIP `config.json` (`vision_config`, or the whole file for a CLIPVisionModel).
public struct CLIPVisionConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Double
    public var projectionDim: Int

    /// Reads the vision part of a CLIP `config.json`: the nested `vision_config` of a full CLIPModel (or the
    /// legacy `vision_config_dict`), or the top level of a `clip_vision_model` config.
    public static func load(_ url: URL) throws -> CLIPVisionConfig {
        let file = url.hasDirectoryPath || isDirectory(url) ? url.appendingPathComponent("config.json") : url
        let c = try ConfigObject.load(file)
        let modelType = try c.string("model_type", default: "")
        if modelType == "clip_vision_model" { return try CLIPVisionConfig(c) }
        if let v = try c.object("vision_config") ?? c.object("vision_config_dict") { return try CLIPVisionConfig(v) }
        throw ConfigError(
            path: c.path, key: "vision_config",
            reason: "required field is missing (model_type \"\(modelType)\" has no vision tower config)")
    }

    public init(_ c: ConfigObject) throws {
        hiddenSize = try c.int("hidden_size")
        intermediateSize = try c.int("intermediate_size")
        numHiddenLayers = try c.int("num_hidden_layers")
        numAttentionHeads = try c.int("num_attention_heads")
        numChannels = try c.int("num_channels", default: 3)
        imageSize = try c.int("image_size")
        patchSize = try c.int("patch_size")
        hiddenAct = try c.string("hidden_act", default: "quick_gelu")
        layerNormEps = try c.double("layer_norm_eps", default: 1e-5)
        projectionDim = try c.int("projection_dim", default: 512)
        for (key, v) in [
            ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
            ("image_size", imageSize), ("patch_size", patchSize), ("num_channels", numChannels)
        ] where v <= 0 {
            throw ConfigError(path: c.path, key: c.fullKey(key), reason: "must be positive, found \(v)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw ConfigError(
                path: c.path, key: c.fullKey("num_attention_heads"),
                reason: "\(numAttentionHeads) does not divide hidden_size \(hiddenSize)")
        }
        if imageSize % patchSize != 0 {
            throw ConfigError(
                path: c.path, key: c.fullKey("patch_size"),
                reason: "\(patchSize) does not divide image_size \(imageSize)")
        }
    }

    /// Patches per side (24 for ViT-L/14 at 336).
    public var gridSize: Int { imageSize / patchSize }
}

// MARK: - open_clip folder (`open_clip_config.json`)

/// An open_clip folder's `open_clip_config.json`: the timm trunk and the image size.
public struct OpenCLIPConfig: Sendable, Equatable, Codable {
    public var timmModelName: String
    public var imageSize: Int
    public var mean: [Double]
    public var std: [Double]

    public static let openAIMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd = [0.26862954, 0.26130258, 0.27577711]

    public static func load(_ url: URL) throws -> OpenCLIPConfig {
        let file = url.hasDirectoryPath || isDirectory(url) ? url.appendingPathComponent("open_clip_config.json") : url
        let c = try ConfigObject.load(file)
        guard let model = try c.object("model_cfg") else {
            throw ConfigError(path: c.path, key: "model_cfg", reason: "required field is missing")
        }
        guard let vision = try model.object("vision_cfg") else {
            throw ConfigError(path: c.path, key: "model_cfg.vision_cfg", reason: "required field is missing")
        }
        let pre = try c.object("preprocess_cfg")
        var config = OpenCLIPConfig(
            timmModelName: try vision.string("timm_model_name"),
            imageSize: 0,
            mean: try pre?.doubles("mean", default: openAIMean) ?? openAIMean,
            std: try pre?.doubles("std", default: openAIStd) ?? openAIStd)
        // image_size may be an int or [h, w].
        let sizes = try vision.ints("image_size", default: [])
        guard let size = sizes.first, size > 0 else {
            throw ConfigError(path: c.path, key: "model_cfg.vision_cfg.image_size", reason: "required field is missing")
        }
        config.imageSize = size
        if config.mean.count != 3 || config.std.count != 3 || config.std.contains(where: { $0 <= 0 }) {
            throw ConfigError(path: c.path, key: "preprocess_cfg", reason: "mean and std must be 3 values (std > 0)")
        }
        return config
    }
}

func isDirectory(_ url: URL) -> Bool {
    var dir: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &dir) && dir.boolValue
}
