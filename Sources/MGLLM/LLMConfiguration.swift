import Foundation
import MGJSON

@_exported import struct MGJSON.ConfigError

/// A decoder-only LLM's HF `config.json` (LlamaForCausalLM: Vicuna, Llama-3, Yi; Phi3ForCausalLM), decoded as
/// transformers reads it: unknown fields are ignored, optional fields take transformers' defaults for the family,
/// and the fields that fix the model's size are required (a truncated config must not silently build a
/// default-sized model). Encodes back to the same snake_case keys.
public struct LLMConfiguration: Sendable, Equatable, Codable {
    /// Which weight layout the file's `model_type` means.
    public enum Family: String, Sendable, Codable { case llama, phi3 }

    /// An HF `rope_scaling` object as the file states it (`LLMArchitecture` decides which types it runs).
    public struct RopeScaling: Sendable, Equatable, Codable {
        /// transformers' `rope_type` (older files: `type`): "default", "linear", "dynamic", "llama3", "longrope",
        /// "su", …
        public var type: String
        public var factor: Double
        /// Llama-3.1 style ("llama3") parameters.
        public var lowFreqFactor: Double?
        public var highFreqFactor: Double?
        public var originalMaxPositionEmbeddings: Int?
        /// Phi-3 long-context ("longrope"/"su") per-frequency factors.
        public var shortFactor: [Double]?
        public var longFactor: [Double]?

        public init(
            type: String, factor: Double = 1, lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
            originalMaxPositionEmbeddings: Int? = nil, shortFactor: [Double]? = nil, longFactor: [Double]? = nil
        ) {
            self.type = type
            self.factor = factor
            self.lowFreqFactor = lowFreqFactor
            self.highFreqFactor = highFreqFactor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
            self.shortFactor = shortFactor
            self.longFactor = longFactor
        }

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", legacyType = "type", factor
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case shortFactor = "short_factor", longFactor = "long_factor"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let legacy = try c.decodeIfPresent(String.self, forKey: .legacyType)
            type = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? legacy ?? "default"
            factor = try c.decodeIfPresent(Double.self, forKey: .factor) ?? 1
            lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
            highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
            originalMaxPositionEmbeddings = try c.decodeIntegerIfPresent(forKey: .originalMaxPositionEmbeddings)
            shortFactor = try c.decodeIfPresent([Double].self, forKey: .shortFactor)
            longFactor = try c.decodeIfPresent([Double].self, forKey: .longFactor)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(type, forKey: .ropeType)
            try c.encode(factor, forKey: .factor)
            try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
            try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
            try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
            try c.encodeIfPresent(shortFactor, forKey: .shortFactor)
            try c.encodeIfPresent(longFactor, forKey: .longFactor)
        }
    }

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

    /// Reads `config.json` of an HF LLM folder (or the file itself); errors name the file and the key.
    public static func load(_ url: URL) throws -> LLMConfiguration {
        try ConfigFile.decode(LLMConfiguration.self, from: ConfigFile.resolve(url, defaultName: "config.json"))
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling", attentionBias = "attention_bias"
        case mlpBias = "mlp_bias", tieWordEmbeddings = "tie_word_embeddings", slidingWindow = "sliding_window"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
        case torchDType = "torch_dtype", dtype
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let modelType = try c.decode(String.self, forKey: .modelType)
        switch modelType {
        case "llama", "mistral", "yi": family = .llama
        case "phi3": family = .phi3
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .modelType, in: c,
                debugDescription: "unsupported model type \"\(modelType)\" (supported: llama, phi3)")
        }
        let phi3 = family == .phi3
        vocabSize = try c.decodeInteger(forKey: .vocabSize)
        hiddenSize = try c.decodeInteger(forKey: .hiddenSize)
        intermediateSize = try c.decodeInteger(forKey: .intermediateSize)
        numHiddenLayers = try c.decodeInteger(forKey: .numHiddenLayers)
        numAttentionHeads = try c.decodeInteger(forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIntegerIfPresent(forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim =
            try c.decodeIntegerIfPresent(forKey: .headDim)
            ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        // transformers' defaults per family.
        maxPositionEmbeddings = try c.decodeIntegerIfPresent(forKey: .maxPositionEmbeddings) ?? (phi3 ? 4096 : 2048)
        originalMaxPositionEmbeddings = try c.decodeIntegerIfPresent(forKey: .originalMaxPositionEmbeddings)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? (phi3 ? 1e-5 : 1e-6)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        slidingWindow = try c.decodeIntegerIfPresent(forKey: .slidingWindow)
        bosTokenId = try c.decodeIntegerIfPresent(forKey: .bosTokenId) ?? 1
        eosTokenIds = try c.decodeIntegersIfPresent(forKey: .eosTokenId) ?? (phi3 ? [32000] : [2])
        padTokenId = try c.decodeIntegerIfPresent(forKey: .padTokenId) ?? (phi3 ? 32000 : nil)
        torchDType =
            try c.decodeIfPresent(String.self, forKey: .torchDType) ?? c.decodeIfPresent(String.self, forKey: .dtype)
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        try validate(c)
    }

    private func validate(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        func fail(_ key: CodingKeys, _ reason: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: reason)
        }
        let sizes: [(CodingKeys, Int)] = [
            (.vocabSize, vocabSize), (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize),
            (.numHiddenLayers, numHiddenLayers), (.numAttentionHeads, numAttentionHeads),
            (.numKeyValueHeads, numKeyValueHeads), (.headDim, headDim)
        ]
        for (key, value) in sizes where value <= 0 { throw fail(key, "must be positive, found \(value)") }
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw fail(
                .numKeyValueHeads, "\(numKeyValueHeads) does not divide num_attention_heads \(numAttentionHeads)")
        }
        if headDim % 2 != 0 { throw fail(.headDim, "rotary embeddings need an even head_dim, found \(headDim)") }
        if !(rmsNormEps > 0) { throw fail(.rmsNormEps, "must be positive, found \(rmsNormEps)") }
        if !(ropeTheta > 0) { throw fail(.ropeTheta, "must be positive, found \(ropeTheta)") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family.rawValue, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(mlpBias, forKey: .mlpBias)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(slidingWindow, forKey: .slidingWindow)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encode(eosTokenIds, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encodeIfPresent(torchDType, forKey: .torchDType)
    }
}

extension LLMArchitecture {
    /// The architecture an HF `config.json` describes. Rope scaling types other than linear and llama3 are
    /// refused with an error naming the file (`path`), rather than run with the wrong positions.
    public init(_ configuration: LLMConfiguration, path: String = "config.json") throws {
        let c = configuration
        var scaling: RopeScaling? = nil
        if let rs = c.ropeScaling {
            switch rs.type {
            case "default": scaling = nil
            case "linear": scaling = .linear(factor: Float(rs.factor))
            case "llama3":
                scaling = .llama3(
                    factor: Float(rs.factor), lowFreqFactor: Float(rs.lowFreqFactor ?? 1),
                    highFreqFactor: Float(rs.highFreqFactor ?? 4),
                    originalMaxPositions: rs.originalMaxPositionEmbeddings ?? 8192)
            default:
                throw ConfigError(
                    path: path, key: "rope_scaling.rope_type",
                    reason: "rope scaling \"\(rs.type)\" is not supported (supported: default, linear, llama3)")
            }
        }
        self.init(
            layout: c.family == .phi3 ? .phi3 : .llama, vocabSize: c.vocabSize, hiddenSize: c.hiddenSize,
            intermediateSize: c.intermediateSize, numLayers: c.numHiddenLayers, numHeads: c.numAttentionHeads,
            numKeyValueHeads: c.numKeyValueHeads, headDim: c.headDim, rmsNormEps: Float(c.rmsNormEps),
            ropeTheta: Float(c.ropeTheta), ropeScaling: scaling, maxPositionEmbeddings: c.maxPositionEmbeddings,
            tieWordEmbeddings: c.tieWordEmbeddings, attentionBias: c.attentionBias, mlpBias: c.mlpBias,
            // Phi-3 applies its window only when a sequence can exceed it.
            slidingWindow: c.family == .phi3 ? c.slidingWindow : nil)
    }
}
