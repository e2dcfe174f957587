// chat-example: ask MG-LLaVA one question about one image and print the answer — what `mgllava chat --prompt`
// does, through the library.
//
//   chat-example --llm vicuna-7b-v1.5 --visual-encoder clip-vit-large-patch14-336 \
//       --visual-encoder-aux CLIP-convnext_large_d_320 --pth iter_5198.pth --image photo.jpg --prompt "What is this?"
import ArgumentParser
import Foundation
import MGLLaVA

struct ChatExample: ParsableCommand {
    @Option(help: "HF LLM folder (upstream's llm_name_or_path).") var llm: String
    @Option(help: "HF CLIP folder (visual_encoder_name_or_path).") var visualEncoder: String
    @Option(help: "open_clip ConvNeXt folder (visual_encoder_aux_path).") var visualEncoderAux: String
    @Option(help: "MG-LLaVA checkpoint (.pth or safetensors): fusion, projectors, and the LLM after SFT.") var pth:
        String
    @Option(help: "The image (JPEG, PNG, WebP, GIF, BMP or TIFF).") var image: String
    @Option(help: "The question.") var prompt: String
    @Option(help: "Side of the high-resolution (ConvNeXt) input; upstream's is 768.") var imageSizeAux = 768
    @Option(help: "Most tokens to generate.") var maxNewTokens = 512
    @Option(help: "Tokenizer folder, when it is not the LLM folder.") var tokenizer: String?

    func run() throws {
        // 1. Load the model and everything that turns an image and a prompt into its inputs: the tokenizer, the
        //    prompt template (Vicuna's, as upstream's Vicuna configs) and the image processor at both resolutions.
        //    Weights stay memory-mapped in their stored dtype; the model is frozen and in eval mode.
        let pipeline = try InferencePipeline.load(
            llm: URL(fileURLWithPath: llm),
            visualEncoder: URL(fileURLWithPath: visualEncoder),
            visualEncoderAux: URL(fileURLWithPath: visualEncoderAux),
            pth: URL(fileURLWithPath: pth),
            tokenizer: tokenizer.map { URL(fileURLWithPath: $0) },
            template: .vicuna,
            imageSizeAux: imageSizeAux)

        // 2. Decode the image (bit-exact with PIL) and start a conversation about it. `boxes:` takes the image's
        //    detections (a `BoxRecord`, upstream's box JSON format); without them the model sees upstream's
        //    dummy box, as `mgllava chat` does when no boxes are given.
        let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
        let session = try pipeline.chat(about: picture, boxes: nil)

        // 3. Ask. The first message gets the `<image>` slot; generation is greedy and stops at EOS. Calling `send`
        //    again continues the conversation (the session keeps the history); `onText:` streams the answer.
        //    For one-off questions, `pipeline.answer(prompt, about: picture, boxes: nil, maxNewTokens:)` does
        //    steps 2 and 3 in one call.
        let reply = try session.send(prompt, maxNewTokens: maxNewTokens, sampling: .greedy)
        print(reply.text)
    }
}

ChatExample.main()
