import Foundation
import MGFusion
import MGObjects

/// The visual half of MG-LLaVA over a batch of images — what `MGLLaVAModel.prepareInputs` splices into the text
/// and what `VisualFeatures` writes out, computed by one function: the CLIP features of the selected layer, the
/// ConvNeXt stages (both without a graph: the towers are frozen — CLIP with one when it carries trained LoRA
/// adapters), the Conv-Gate fusion and the image projector
/// (with a graph when trainable), and per image the RoIAlign box features and their projection.
public struct VisualEncoding {
    /// [B, N, D_clip]: the selected CLIP layer without its CLS token.
    public var clipFeatures: Tensor
    /// The ConvNeXt's stage outputs, [B, C_i, H_i, W_i].
    public var stages: [Tensor]
    /// [B, N, D_clip] after the fusion (nil without a fusion module).
    public var fused: Tensor?
    /// [B, N, H] projected image tokens (nil without a fusion and a projector).
    public var imageTokens: Tensor?
    /// Per image [K, Σ C_i]: the RoIAlign means of its boxes over every stage.
    public var boxFeatures: [Tensor]
    /// Per image [K, H] (empty without a box projector).
    public var boxTokens: [Tensor]

    /// Encodes `pixels` [B, 3, S, S] and `pixelsAux` [B, 3, A, A] with `boxes[i]` in the aux frame of image i.
    /// Optional modules that are nil are skipped (a checkpoint without them, for `mgllava features`).
    public static func encode(
        pixels: Tensor, pixelsAux: Tensor, boxes: [[RoIBox]], visualEncoder: CLIPVisionModel,
        visualEncoderAux: ConvNeXtTrunk, selectLayer: Int, fusion: ConvGateFusion?,
        projector: Sequential?, bboxProjector: Sequential?,
        boxExtractor: BoxFeatureExtractor
    ) -> VisualEncoding {
        let stages = withNoGrad { visualEncoderAux(pixelsAux) }
        // CLIP records a graph only when something in it trains (LoRA adapters, `visual_encoder_lora`).
        let low =
            visualEncoder.parameters().contains { !$0.frozen }
            ? visualEncoder.features(pixels, selectLayer: selectLayer)
            : withNoGrad { visualEncoder.features(pixels, selectLayer: selectLayer) }
        let fused = fusion.map { $0(low: low, high: stages[stages.count - 1]) }
        let imageTokens = fused.flatMap { f in projector.map { $0(f) } }
        let auxSize = pixelsAux.shape[3]
        var boxFeatures: [Tensor] = [], boxTokens: [Tensor] = []
        for row in boxes.indices {
            let perImage = stages.map { $0.slice(axis: 0, row, row + 1) }
            let features = boxExtractor(stages: perImage, boxes: boxes[row], auxSize: auxSize)
            boxFeatures.append(features)
            if let bboxProjector { boxTokens.append(bboxProjector(features)) }
        }
        return VisualEncoding(
            clipFeatures: low, stages: stages, fused: fused, imageTokens: imageTokens,
            boxFeatures: boxFeatures, boxTokens: boxTokens)
    }
}
