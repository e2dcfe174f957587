import Foundation

extension InferencePipeline {
    /// The pipeline a config describes, with `weights` (an MG-LLaVA `.pth`, a safetensors checkpoint, an `iter_N`
    /// folder or a work dir) over its models: paths resolved against `root`, the config's template, `image_size_aux`
    /// and `pad_image_to_square`. `limitNum` is the box cap per category (upstream's eval datasets use 100).
    public static func load(
        config: TrainConfig, root: URL, weights: URL, limitNum: Int = 100
    ) throws -> InferencePipeline {
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        guard let template = PromptTemplate.named(config.promptTemplate) else {
            throw TrainConfigError.invalidValue(
                field: "prompt_template", value: config.promptTemplate,
                reason:
                    "unknown template (known: \(PromptTemplate.all.map(\.name).joined(separator: ", ")))")
        }
        return try load(
            llm: path(config.llmNameOrPath), visualEncoder: path(config.visualEncoderNameOrPath),
            visualEncoderAux: path(config.visualEncoderAuxPath),
            pth: try TrainingRun.pretrainedWeights(weights, field: "checkpoint"), lora: config.llmLoRA,
            visualEncoderLoRA: config.visualEncoderLoRA,
            template: template,
            imageSizeAux: config.imageSizeAux, padToSquare: config.padImageToSquare, limitNum: limitNum)
    }
}
