import ArgumentParser
import Foundation
import MGData
import MGLLaVA

/// `mgllava features`: every visual intermediate for one image — preprocessed pixels, boxes in the aux frame, CLIP
/// features, fused features, RoI box features (and the projected tokens when the checkpoint has the projectors) —
/// written to one safetensors file, for chasing preprocessing or model mismatches against upstream.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Write the preprocessed pixels, boxes, CLIP, fused and box features of one image to safetensors.")

    @Option(help: "HF CLIP folder (visual_encoder_name_or_path).")
    var visualEncoder: String

    @Option(help: "open_clip ConvNeXt folder (visual_encoder_aux_path).")
    var visualEncoderAux: String

    @Option(help: "MG-LLaVA checkpoint with fuse_module / projector / bbox_projector (pretrained_pth).")
    var pth: String?

    @Option(help: "Side of the high-resolution input (upstream: 768).")
    var imageSizeAux: Int = 768

    @Option(help: "The image file (JPEG or PNG).")
    var image: String

    @Option(help: "Box JSON (a list of {id, boxes, labels, scores} or a dict keyed by id).")
    var boxes: String?

    @Option(help: "The id of this image's record in --boxes.")
    var boxId: String?

    @Option(help: "Output .safetensors file.")
    var out: String

    func validate() throws {
        guard imageSizeAux > 0 else { throw ValidationError("--image-size-aux must be positive, got \(imageSizeAux)") }
        if (boxes == nil) != (boxId == nil) { throw ValidationError("--boxes and --box-id go together") }
    }

    func run() throws {
        let clip = try CLIPVisionModel.load(directory: URL(fileURLWithPath: visualEncoder))
        let trunk = try ConvNeXtTrunk.load(directory: URL(fileURLWithPath: visualEncoderAux))
        guard imageSizeAux % 32 == 0, imageSizeAux / 32 == clip.architecture.gridSize else {
            throw ValidationError("--image-size-aux \(imageSizeAux) gives a \(imageSizeAux / 32)×\(imageSizeAux / 32) ConvNeXt grid, "
                                  + "but the CLIP tower has a \(clip.architecture.gridSize)×\(clip.architecture.gridSize) grid")
        }
        let record = try boxes.map { try BoxFile.record(URL(fileURLWithPath: $0), id: boxId ?? "") }
        let decoded = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
        let processor = ImageProcessor(auxSize: imageSizeAux, clipSize: clip.architecture.imageSize)
        let visual = try VisualInputs.prepare(decoded, boxes: record, processor: processor)
        if visual.usedDummyBox { print("no box survived the pipeline (or none was given): using upstream's dummy box [0, 0, 0, 0]") }

        var tensors: [String: Tensor] = [
            "pixel_values": visual.pixelValues, "pixel_values_aux": visual.pixelValuesAux,
            "boxes": Tensor(visual.boxes.flatMap { [$0.x1, $0.y1, $0.x2, $0.y2] }, shape: [visual.boxes.count, 4]),
        ]
        try withNoGrad {
            let low = clip.features(visual.pixelValues.unsqueezed(0))
            let stages = trunk(visual.pixelValuesAux.unsqueezed(0))
            tensors["clip_features"] = low.squeezed(0)
            for (i, s) in stages.enumerated() { tensors["convnext_stage_\(i)"] = s.squeezed(0) }
            let boxFeatures = BoxFeatureExtractor()(stages: stages, boxes: visual.boxes, auxSize: imageSizeAux)
            tensors["box_features"] = boxFeatures
            guard let pth else { return }
            let modules = try TrainedModules.load(URL(fileURLWithPath: pth), lowResDim: clip.architecture.hiddenSize,
                                                  highResDim: trunk.architecture.dims[trunk.architecture.dims.count - 1])
            if let fusion = modules.fusion {
                let fused = fusion(low: low, high: stages[stages.count - 1])
                tensors["fused"] = fused.squeezed(0)
                if let projector = modules.projector { tensors["image_tokens"] = projector(fused).squeezed(0) }
            }
            if let bbox = modules.bboxProjector { tensors["box_tokens"] = bbox(boxFeatures) }
        }
        try SafeTensorsWriter.write(tensors, metadata: ["image": image, "image_size_aux": String(imageSizeAux)],
                                    to: URL(fileURLWithPath: out))
        print("wrote \(tensors.keys.sorted().joined(separator: ", ")) to \(out)")
    }
}

/// Box JSON lookup by id, with errors that name the file and the id.
enum BoxFile {
    static func record(_ url: URL, id: String) throws -> BoxRecord {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ValidationError("cannot read the box file \(url.path): \(DataError.plainReason(error))")
        }
        let records: [BoxRecord]
        do { records = try BoxRecord.decodeFile(data) } catch {
            throw ValidationError("\(url.path): \(error)")
        }
        guard let record = records.first(where: { $0.id.key == id }) else {
            throw ValidationError("\(url.path): no record with id \"\(id)\" (\(records.count) records)")
        }
        return record
    }
}
