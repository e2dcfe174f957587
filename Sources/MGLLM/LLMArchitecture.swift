import Foundation

/// The architecture of a decoder-only LLM as MG-LLaVA uses them: LLaMA layout (Vicuna-1.5, Llama-3 with GQA,
/// Yi-1.5) or Phi-3 layout (fused `qkv_proj` and `gate_up_proj`). Built from an HF `config.json` through
/// `LLMConfiguration` (`init(_:path:)`), or from a preset.
public struct LLMArchitecture: Sendable, Equatable {
    /// Separate q/k/v and gate/up projections (Llama) or fused ones (Phi-3).
    public enum Layout: String, Sendable { case llama, phi3 }

    /// The RoPE frequency scalings implemented (HF's `rope_type`s).
    public enum RopeScaling: Sendable, Equatable {
        /// Positions divided by `factor`.
        case linear(factor: Float)
        /// Llama-3.1: wavelength-dependent scaling of the inverse frequencies.
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
    }

    public var layout: Layout
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// Phi-3's sliding window (attend to at most this many previous positions), nil for full attention.
    public var slidingWindow: Int?

    public init(
        layout: Layout, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numLayers: Int,
        numHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil, rmsNormEps: Float = 1e-6,
        ropeTheta: Float = 10000, ropeScaling: RopeScaling? = nil, maxPositionEmbeddings: Int = 4096,
        tieWordEmbeddings: Bool = false, attentionBias: Bool = false, mlpBias: Bool = false,
        slidingWindow: Int? = nil
    ) {
        self.layout = layout
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? hiddenSize / numHeads
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.slidingWindow = slidingWindow
    }

    /// HF's rotary inverse frequencies (Float32 arithmetic, as `_compute_default_rope_parameters` and the
    /// llama3 variant compute them).
    public var inverseFrequencies: [Float] {
        let half = headDim / 2
        var inv = (0..<half).map { i in 1 / Foundation.pow(ropeTheta, Float(2 * i) / Float(headDim)) }
        switch ropeScaling {
        case .none: break
        case .linear(let factor): inv = inv.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelen = Float(original) / low, highWavelen = Float(original) / high
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (Float(original) / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
        return inv
    }
}
