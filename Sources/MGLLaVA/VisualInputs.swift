import Foundation
import MGObjects

/// One image prepared for MG-LLaVA: both pixel tensors and the boxes in the aux frame, as upstream's dataset
/// produces them (SPEC §4.3).
public struct VisualInputs {
    public var pixelValues: Tensor  // [3, clip, clip]
    public var pixelValuesAux: Tensor  // [3, aux, aux]
    public var boxes: [RoIBox]  // aux frame, K ≥ 1
    public var boxLabels: [String]
    /// True when no box survived (or none was given) and the dummy [0, 0, 0, 0] box stands in.
    public var usedDummyBox: Bool

    /// Preprocesses `image` and runs the box pipeline on `record` (nil or empty = no detections → the dummy box).
    /// `textLength` is the sample's token count, which decides upstream's near-max-length per-label cap.
    public static func prepare(
        _ image: RGBImage, boxes record: BoxRecord?, textLength: Int = 0,
        processor: ImageProcessor, boxConfig: BoxPipelineConfig? = nil
    ) throws -> VisualInputs {
        let processed = processor.process(image)
        var config = boxConfig ?? BoxPipelineConfig()
        config.auxSize = processor.auxSize
        config.padToSquare = processor.padToSquare
        let rec = record ?? BoxRecord(id: .string(""), boxes: [], labels: [], scores: [])
        let result = try BoxPipeline.run(
            rec, imageWidth: image.width, imageHeight: image.height,
            textLength: textLength, config: config)
        let boxes = result.boxes.map { RoIBox($0[0], $0[1], $0[2], $0[3]) }
        return VisualInputs(
            pixelValues: processed.pixelValues, pixelValuesAux: processed.pixelValuesAux, boxes: boxes,
            boxLabels: result.labels, usedDummyBox: result.labels.isEmpty)
    }
}
