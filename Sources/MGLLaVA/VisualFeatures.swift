import Foundation
import MGObjects

/// Every visual intermediate of MG-LLaVA for one image, by name — for comparing preprocessing and the towers with
/// upstream (`mgllava features` writes them to safetensors): `pixel_values`, `pixel_values_aux`, `boxes` (aux
/// frame), `clip_features` (the selected CLIP layer without CLS), `convnext_stage_0…3`, `box_features` (RoIAlign
/// means), and with the trained modules of a checkpoint `fused`, `image_tokens`, `box_tokens`.
public enum VisualFeatures {
    /// Loads the towers (and, from `pth`, whichever of the fusion and projectors it holds) and computes the tensors.
    /// `imageSizeAux` must give the ConvNeXt's last stage the CLIP grid (the error says which sizes do).
    public static func compute(
        image: RGBImage, boxes: BoxRecord?, visualEncoder: URL, visualEncoderAux: URL,
        pth: URL?, imageSizeAux: Int
    ) throws -> (tensors: [String: Tensor], usedDummyBox: Bool) {
        let clip = try CLIPVisionModel.load(directory: visualEncoder)
        let trunk = try ConvNeXtTrunk.load(directory: visualEncoderAux)
        let grid = clip.architecture.gridSize
        guard trunk.architecture.finalMapSize(inputSize: imageSizeAux) == grid else {
            let stride = trunk.architecture.dims.count > 1 ? 4 << (trunk.architecture.dims.count - 1) : 4
            throw MGLLaVAGeometryError(
                description: "--image-size-aux \(imageSizeAux) gives a "
                    + "\(trunk.architecture.finalMapSize(inputSize: imageSizeAux))² ConvNeXt grid, but the CLIP tower has a "
                    + "\(grid)×\(grid) grid; sizes that fit: \(grid * stride)…\((grid + 1) * stride - 1)")
        }
        let processor = ImageProcessor(auxSize: imageSizeAux, clipSize: clip.architecture.imageSize)
        let visual = try VisualInputs.prepare(image, boxes: boxes, processor: processor)
        var tensors: [String: Tensor] = [
            "pixel_values": visual.pixelValues, "pixel_values_aux": visual.pixelValuesAux,
            "boxes": Tensor(visual.boxes.flatMap { [$0.x1, $0.y1, $0.x2, $0.y2] }, shape: [visual.boxes.count, 4])
        ]
        let modules = try pth.map {
            try TrainedModules.load(
                $0, lowResDim: clip.architecture.hiddenSize,
                highResDim: trunk.architecture.dims[trunk.architecture.dims.count - 1])
        }
        // The same computation `MGLLaVAModel.prepareInputs` runs, with whichever trained modules the checkpoint has.
        let encoded = withNoGrad {
            VisualEncoding.encode(
                pixels: visual.pixelValues.unsqueezed(0), pixelsAux: visual.pixelValuesAux.unsqueezed(0),
                boxes: [visual.boxes], visualEncoder: clip, visualEncoderAux: trunk, selectLayer: -2,
                fusion: modules?.fusion, projector: modules?.projector,
                bboxProjector: modules?.bboxProjector, boxExtractor: BoxFeatureExtractor())
        }
        tensors["clip_features"] = encoded.clipFeatures.squeezed(0)
        for (i, s) in encoded.stages.enumerated() { tensors["convnext_stage_\(i)"] = s.squeezed(0) }
        tensors["box_features"] = encoded.boxFeatures[0]
        if let fused = encoded.fused { tensors["fused"] = fused.squeezed(0) }
        if let tokens = encoded.imageTokens { tensors["image_tokens"] = tokens.squeezed(0) }
        if let boxTokens = encoded.boxTokens.first { tensors["box_tokens"] = boxTokens }
        return (tensors, visual.usedDummyBox)
    }
}
