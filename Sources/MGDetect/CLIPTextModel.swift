import MGCLIP
import MGNN

// CLIP's text transformer as OWLv2 uses it for its queries (HF `Owlv2TextTransformer`, keys `text_model.*`):
// token + learned position embeddings, pre-norm encoder layers with a causal mask, `final_layer_norm`, and the
// pooled output at the end-of-text token (the largest id in the sequence).

/// `text_model.embeddings`: token and position embeddings, added.
public final class CLIPTextEmbeddings: Module {
    public let tokenEmbedding: Embedding
    public let positionEmbedding: Embedding

    init(_ config: OWLv2TextConfiguration) {
        tokenEmbedding = Embedding(config.vocabSize, config.hiddenSize)
        positionEmbedding = Embedding(config.maxPositionEmbeddings, config.hiddenSize)
        super.init()
    }

    public override var children: [(String, Module)] {
        [("token_embedding", tokenEmbedding), ("position_embedding", positionEmbedding)]
    }

    /// ids [B, L] (row-major) → [B, L, D]
    func callAsFunction(_ ids: [Int], batch: Int, length: Int) -> Tensor {
        let d = positionEmbedding.weight.shape[1]
        let positions = positionEmbedding.weight.tensor.slice(axis: 0, 0, length).reshaped([1, length, d])
        return tokenEmbedding(ids, shape: [batch, length]) + positions
    }
}

/// `text_model` (HF `Owlv2TextTransformer`).
public final class CLIPTextTransformer: Module {
    public let config: OWLv2TextConfiguration
    public let embeddings: CLIPTextEmbeddings
    public let layers: ModuleList<CLIPEncoderLayer>
    public let finalLayerNorm: LayerNorm

    /// A text tower with zero weights.
    public init(_ config: OWLv2TextConfiguration) {
        self.config = config
        embeddings = CLIPTextEmbeddings(config)
        layers = ModuleList(
            (0..<config.numHiddenLayers).map { _ in
                CLIPEncoderLayer(
                    hiddenSize: config.hiddenSize, intermediateSize: config.intermediateSize,
                    heads: config.numAttentionHeads, layerNormEps: Float(config.layerNormEps),
                    hiddenAct: config.hiddenAct, isCausal: true)
            })
        finalLayerNorm = LayerNorm(config.hiddenSize, eps: Float(config.layerNormEps))
        super.init()
    }

    public override var children: [(String, Module)] {
        [
            ("embeddings", embeddings), ("encoder", ModuleGroup(["layers": layers])),
            ("final_layer_norm", finalLayerNorm)
        ]
    }

    /// The pooled output (HF `pooler_output`) of each sequence, [B, D]: the final-normed hidden state at the first
    /// position holding the sequence's largest id (CLIP's end-of-text token). All sequences have the same length.
    ///
    /// Padding after the end-of-text token cannot change the pooled state (the mask is causal), so callers may pass
    /// sequences cut after their end-of-text token: the result is the same as for the padded ones.
    public func pooled(_ sequences: [[Int]]) -> Tensor {
        let b = sequences.count, l = sequences.first?.count ?? 0, d = config.hiddenSize
        precondition(b > 0 && l > 0 && sequences.allSatisfy { $0.count == l }, "CLIP text: ragged or empty batch")
        var h = embeddings(sequences.flatMap { $0 }, batch: b, length: l)  // [B, L, D]
        for layer in layers { h = layer(h) }
        h = finalLayerNorm(h)
        let rows = sequences.enumerated().map { i, ids in i * l + CLIPTextTransformer.poolingPosition(ids) }
        return h.reshaped([b * l, d]).indexSelect(axis: 0, rows)
    }

    /// The first position of the largest id (torch's `argmax`): where CLIP pools.
    public static func poolingPosition(_ ids: [Int]) -> Int {
        var best = 0
        for i in ids.indices where ids[i] > ids[best] { best = i }
        return best
    }
}
