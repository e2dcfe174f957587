// features-example: every visual intermediate of MG-LLaVA for one image, written to a safetensors file — what
// `mgllava features` does, through the library. Useful to compare preprocessing and the vision towers with upstream.
//
//   features-example --visual-encoder clip-vit-large-patch14-336 --visual-encoder-aux CLIP-convnext_large_d_320 \
//       --pth iter_5198.pth --image photo.jpg --out photo.safetensors
import ArgumentParser
import Foundation
import MGLLaVA

struct FeaturesExample: ParsableCommand {
    @Option(help: "HF CLIP folder (visual_encoder_name_or_path).") var visualEncoder: String
    @Option(help: "open_clip ConvNeXt folder (visual_encoder_aux_path).") var visualEncoderAux: String
    @Option(help: "MG-LLaVA checkpoint with the fusion and projectors (adds fused, image_tokens, box_tokens).") var pth:
        String?
    @Option(help: "The image.") var image: String
    @Option(help: "Side of the high-resolution (ConvNeXt) input; upstream's is 768.") var imageSizeAux = 768
    @Option(help: "The .safetensors file to write.") var out: String

    func run() throws {
        let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))

        // Loads the two towers (and the trained modules the checkpoint holds) and runs them on the image:
        // pixel_values, pixel_values_aux, boxes, clip_features, convnext_stage_0…3, box_features, and with a
        // checkpoint fused, image_tokens, box_tokens. No boxes given: upstream's dummy box [0, 0, 0, 0].
        let (tensors, _) = try VisualFeatures.compute(
            image: picture, boxes: nil,
            visualEncoder: URL(fileURLWithPath: visualEncoder),
            visualEncoderAux: URL(fileURLWithPath: visualEncoderAux),
            pth: pth.map { URL(fileURLWithPath: $0) },
            imageSizeAux: imageSizeAux)

        // A `Tensor` has a shape, a dtype and its values (`.float().toArray()`); the writer stores any set of
        // named tensors, plus string metadata, atomically in the safetensors format that Python reads.
        for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) {
            print("\(name) \(tensor.shape)")
        }
        try SafeTensorsWriter.write(
            tensors, metadata: ["image": image, "image_size_aux": String(imageSizeAux)],
            to: URL(fileURLWithPath: out))
        print("wrote \(out)")
    }
}

FeaturesExample.main()
