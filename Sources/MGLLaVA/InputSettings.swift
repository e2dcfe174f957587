import Foundation
import MGObjects

/// What turns a prompt and an image into MG-LLaVA's inputs, without the model: the tokenizer, the prompt template,
/// the image processor (both resolutions) and the box pipeline's settings. Built in one place for training (before
/// the model loads, so the dataset is encoded and checked first) and for inference (`InferencePipeline.inputs`).
public struct InputSettings {
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let processor: ImageProcessor
    public let boxConfig: BoxPipelineConfig

    /// `clipSize` is the CLIP tower's input side (its config's `image_size`); `imageSizeAux` the high-resolution
    /// side; `limitNum` the box cap per category; `maxLength` the token limit the box pipeline's near-full cap uses.
    public init(
        tokenizer: Tokenizer, template: PromptTemplate, clipSize: Int, imageSizeAux: Int, padToSquare: Bool = true,
        limitNum: Int = 100, maxLength: Int = BoxPipelineConfig().maxLength
    ) {
        self.tokenizer = tokenizer
        self.template = template
        processor = ImageProcessor(auxSize: imageSizeAux, clipSize: clipSize, padToSquare: padToSquare)
        boxConfig = BoxPipelineConfig(
            auxSize: imageSizeAux, limitNum: limitNum, maxLength: maxLength, padToSquare: padToSquare)
    }
}
