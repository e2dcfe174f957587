import Foundation
import MGNN

// RAM++'s `tagging_head`: recognize-anything's BertModel (ram/models/bert.py) in `mode='tagging'`, after
// `del_selfattention` removed its embeddings and every layer's self-attention, so each layer is cross-attention
// from the tag queries to the image tokens, then the feed-forward. Checkpoint keys:
//   encoder.layer.{i}.crossattention.self.{query, key, value}, crossattention.output.{dense, LayerNorm},
//   encoder.layer.{i}.intermediate.dense, encoder.layer.{i}.output.{dense, LayerNorm}
// The image mask is all ones (every image token attended), so no mask is applied.

/// `crossattention`: queries from the tag embeddings (hidden), keys and values from the image tokens (512), then
/// `output`: LayerNorm(dense(context) + queries).
public final class RAMCrossAttention: Module {
    public let query, key, value: Linear
    public let dense: Linear
    public let layerNorm: LayerNorm
    let heads: Int

    init(_ configuration: RAMTaggingHeadConfiguration) {
        let hidden = configuration.hiddenSize
        query = Linear(hidden, hidden)
        key = Linear(configuration.encoderWidth, hidden)
        value = Linear(configuration.encoderWidth, hidden)
        dense = Linear(hidden, hidden)
        layerNorm = LayerNorm(hidden, eps: configuration.layerNormEps)
        heads = configuration.numAttentionHeads
        super.init()
    }

    public override var children: [(String, Module)] {
        [
            ("self", ModuleGroup(["query": query, "key": key, "value": value])),
            ("output", ModuleGroup(["dense": dense, "LayerNorm": layerNorm]))
        ]
    }

    /// Tag queries [B, N, D] attending to image tokens [B, S, 512] → [B, N, D].
    func callAsFunction(_ x: Tensor, image: Tensor) -> Tensor {
        let context = Tensor.scaledDotProductAttention(
            tokensMajorQuery: query(x), key: key(image), value: value(image), heads: heads, keyValueHeads: heads)
        return layerNorm(dense(context) + x)
    }
}

/// `encoder.layer.{i}` without its self-attention: cross-attention, then LayerNorm(dense(act(dense(h))) + h).
public final class RAMTaggingLayer: Module {
    public let crossAttention: RAMCrossAttention
    public let intermediate: Linear
    public let output: Linear
    public let outputNorm: LayerNorm
    let activation: Activation

    init(_ configuration: RAMTaggingHeadConfiguration) {
        crossAttention = RAMCrossAttention(configuration)
        intermediate = Linear(configuration.hiddenSize, configuration.intermediateSize)
        output = Linear(configuration.intermediateSize, configuration.hiddenSize)
        outputNorm = LayerNorm(configuration.hiddenSize, eps: configuration.layerNormEps)
        activation = configuration.hiddenAct == "relu" ? .relu : .gelu
        super.init()
    }

    public override var children: [(String, Module)] {
        [
            ("crossattention", crossAttention), ("intermediate", ModuleGroup(["dense": intermediate])),
            ("output", ModuleGroup(["dense": output, "LayerNorm": outputNorm]))
        ]
    }

    func callAsFunction(_ x: Tensor, image: Tensor) -> Tensor {
        let attended = crossAttention(x, image: image)
        return outputNorm(output(activation(intermediate(attended))) + attended)
    }
}

/// `tagging_head`: the stack of tagging layers.
public final class RAMTaggingHead: Module {
    public let layers: ModuleList<RAMTaggingLayer>

    init(_ configuration: RAMTaggingHeadConfiguration) {
        layers = ModuleList((0..<configuration.numHiddenLayers).map { _ in RAMTaggingLayer(configuration) })
        super.init()
    }

    public override var children: [(String, Module)] { [("encoder", ModuleGroup(["layer": layers]))] }

    /// Tag embeddings [B, N, D] and image tokens [B, S, 512] → [B, N, D].
    func callAsFunction(_ tags: Tensor, image: Tensor) -> Tensor {
        var h = tags
        for layer in layers { h = layer(h, image: image) }
        return h
    }
}
