import ArgumentParser
import Foundation
import MGLLaVA

/// The model flags `chat` and `serve` share: upstream's four paths, an optional LoRA adapter and tokenizer.
struct ModelFlags: ParsableArguments {
    @Option(help: "HF LLM folder (llm_name_or_path), or a llama.cpp GGUF file (F32/F16/BF16/Q8_0/Q5_0/Q4_K/Q6_K).")
    var llm: String
    @Option(help: "HF CLIP folder (visual_encoder_name_or_path).") var visualEncoder: String
    @Option(help: "open_clip ConvNeXt folder (visual_encoder_aux_path).") var visualEncoderAux: String
    @Option(help: "MG-LLaVA checkpoint (.pth or safetensors) with the trained modules (and the LLM after SFT).")
    var pth: String?
    @Option(help: "A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) for the LLM, unmerged.")
    var adapter: String?
    @Option(help: "Tokenizer folder, when it is not the LLM folder.") var tokenizer: String?

    /// `InferencePipeline.load` on these paths; its load notes go to standard error.
    func loadPipeline(
        template: PromptTemplate, imageSizeAux: Int, forImages: Bool = true
    ) throws
        -> InferencePipeline
    {
        let pipeline = try InferencePipeline.load(
            llm: URL(fileURLWithPath: llm), visualEncoder: URL(fileURLWithPath: visualEncoder),
            visualEncoderAux: URL(fileURLWithPath: visualEncoderAux), pth: pth.map { URL(fileURLWithPath: $0) },
            adapter: adapter.map { URL(fileURLWithPath: $0) }, tokenizer: tokenizer.map { URL(fileURLWithPath: $0) },
            template: template, imageSizeAux: imageSizeAux, field: "--image-size-aux", forImages: forImages)
        for note in pipeline.loadNotes { FileHandle.standardError.write(Data((note + "\n").utf8)) }
        return pipeline
    }
}
