import Foundation
import MGNN

// recognize-anything's `RAM_plus` (ram/models/ram_plus.py), the inference path of `generate_tag`, under its
// checkpoint keys: visual_encoder.* (Swin), image_proj, label_embed, reweight_scale, wordvec_proj (absent when the
// tagging head is 512 wide: upstream's nn.Identity), fc, tagging_head.*.
//
//   image_embeds = image_proj(visual_encoder(image))                       [B, 1 + L, 512]
//   w            = softmax(exp(reweight_scale) · (cls/‖cls‖) · label_embedᵀ) per tag over its 51 descriptions
//   tags         = relu(wordvec_proj(Σ_d w_d · label_embed_d))             [B, N, D]
//   logits       = fc(tagging_head(tags, image_embeds))                    [B, N]
// A tag is predicted when sigmoid(logit) > its threshold (strictly).

/// RAM++ with zero weights until loaded (`RAMPlusModel.load`).
public final class RAMPlusModel: Module {
    public let configuration: RAMPlusConfiguration
    public let visualEncoder: SwinTransformer
    public let imageProj: Linear
    /// [N · descriptions, 512]: each tag's description embeddings, tag-major.
    public let labelEmbed: Parameter
    /// log of the description re-weighting's inverse temperature (a scalar).
    public let reweightScale: Parameter
    /// 512 → hidden; nil when the head is 512 wide (upstream's `nn.Identity`, no keys).
    public let wordvecProj: Linear?
    public let fc: Linear
    public let taggingHead: RAMTaggingHead

    /// The model with zero weights.
    public init(_ configuration: RAMPlusConfiguration) {
        self.configuration = configuration
        let width = configuration.taggingHead.encoderWidth, hidden = configuration.taggingHead.hiddenSize
        visualEncoder = SwinTransformer(configuration.vision)
        imageProj = Linear(configuration.vision.outputDim, width)
        labelEmbed = Parameter(Tensor.zeros([configuration.numClasses * configuration.descriptionsPerClass, width]))
        reweightScale = Parameter(Tensor.zeros([]))
        wordvecProj = hidden != width ? Linear(width, hidden) : nil
        fc = Linear(hidden, 1)
        taggingHead = RAMTaggingHead(configuration.taggingHead)
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] {
        [("label_embed", labelEmbed), ("reweight_scale", reweightScale)]
    }
    public override var children: [(String, Module)] {
        var list: [(String, Module)] = [("visual_encoder", visualEncoder), ("image_proj", imageProj)]
        if let wordvecProj { list.append(("wordvec_proj", wordvecProj)) }
        list += [("fc", fc), ("tagging_head", taggingHead)]
        return list
    }

    /// What one forward pass computes (the intermediate values are kept for tests and inspection).
    public struct Outputs {
        /// The Swin encoder's output [B, 1 + L, C].
        public var visual: Tensor
        /// `image_proj` of it, [B, 1 + L, 512].
        public var imageEmbeds: Tensor
        /// The re-weighted, projected tag embeddings the head queries with, [B, N, D].
        public var labelEmbed: Tensor
        /// The tagging head's output, [B, N, D].
        public var tagging: Tensor
        /// One logit per tag, [B, N].
        public var logits: Tensor
    }

    /// Pixels [B, 3, S, S] (see `RAMImageProcessor`) → the tag logits and what led to them. Run under `withNoGrad`.
    public func forward(_ pixels: Tensor) -> Outputs {
        let visual = visualEncoder(pixels)
        let imageEmbeds = imageProj(visual)  // [B, 1 + L, 512]
        let b = imageEmbeds.shape[0], width = imageEmbeds.shape[2]
        let n = configuration.numClasses, d = configuration.descriptionsPerClass

        // Description weights: cosine of the pooled image embedding with every description, scaled, softmax per tag.
        let cls = imageEmbeds.select(axis: 1, 0)  // [B, 512]
        let unit = cls / cls.square().sum(axis: 1, keepDims: true).sqrt()
        let descriptions = labelEmbed.tensor.float()  // [N·d, 512]
        let scale = reweightScale.tensor.float().exp()
        let weights = (scale * unit).matmul(descriptions, transposeB: true)  // [B, N·d]
            .reshaped([b, n, d]).softmax(axis: -1)
        // Σ_d w[b, t, d] · E[t, d, :] as N batched [1, d] × [d, 512] products per image.
        let perTag = descriptions.reshaped([n, d, width])
        let reweighted = Tensor.concat(
            (0..<b).map { i in
                weights.select(axis: 0, i).reshaped([n, 1, d]).matmul(perTag).reshaped([1, n, width])
            }, axis: 0)  // [B, N, 512]
        let labelEmbedding = (wordvecProj.map { $0(reweighted) } ?? reweighted).relu()
        let tagging = taggingHead(labelEmbedding, image: imageEmbeds)
        let logits = fc(tagging).reshaped([b, n])
        return Outputs(
            visual: visual, imageEmbeds: imageEmbeds, labelEmbed: labelEmbedding, tagging: tagging, logits: logits)
    }
}
