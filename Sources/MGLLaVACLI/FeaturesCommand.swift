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
        let record = try boxes.map { try BoxIndex.load(contentsOf: URL(fileURLWithPath: $0)).record(for: boxId ?? "") }
        let decoded = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
        let (tensors, usedDummyBox) = try VisualFeatures.compute(
            image: decoded, boxes: record, visualEncoder: URL(fileURLWithPath: visualEncoder),
            visualEncoderAux: URL(fileURLWithPath: visualEncoderAux), pth: pth.map { URL(fileURLWithPath: $0) },
            imageSizeAux: imageSizeAux)
        if usedDummyBox {
            print("no box survived the pipeline (or none was given): using upstream's dummy box [0, 0, 0, 0]")
        }
        try SafeTensorsWriter.write(
            tensors, metadata: ["image": image, "image_size_aux": String(imageSizeAux)],
            to: URL(fileURLWithPath: out))
        print("wrote \(tensors.keys.sorted().joined(separator: ", ")) to \(out)")
    }
}
