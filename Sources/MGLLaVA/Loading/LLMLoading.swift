import Foundation
import MGCheckpoint
import MGLLM

extension LLMArchitecture {
    /// The architecture an HF `config.json` describes. Rope scaling types other than linear and llama3 are
    /// refused with an error naming the file, rather than run with the wrong positions.
    public init(_ c: DecoderConfig, path: String = "config.json") throws {
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

extension CausalLM {
    /// Loads an HF LLM folder (`config.json` + safetensors or `pytorch_model*.bin`, single or sharded), strictly.
    /// `frozen`: the model is frozen and its weights are used in place, in their stored dtype (bf16/f16 weights
    /// stay memory-mapped and are widened per tile by the kernels) — inference without a float32 copy.
    public static func load(directory: URL, frozen: Bool = false) throws -> CausalLM {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try DecoderConfig.load(configURL)
        let model = CausalLM(try LLMArchitecture(config, path: configURL.path))
        let weights = try Checkpoint.open(directory)
        if frozen { model.freeze() }
        try model.load(
            try weights.loadAll(), source: weights.description, ignoring: CausalLM.isIgnoredKey,
            inPlaceWhenFrozen: frozen)
        return model
    }
}
