import Foundation
import MGObjects

/// An MG-LLaVA model with what turns an image and a prompt into its inputs — tokenizer, prompt template, image
/// processor and box pipeline settings — built once and checked together (the high-resolution size must fit the
/// towers). `mgllava chat`, every `mgllava eval` benchmark and library callers answer through it.
public final class InferencePipeline {
    public let model: MGLLaVAModel
    /// The tokenizer, template, image processor and box settings (the same set-up training uses).
    public let inputs: InputSettings
    public var tokenizer: Tokenizer { inputs.tokenizer }
    public var template: PromptTemplate { inputs.template }
    public var processor: ImageProcessor { inputs.processor }
    public var boxConfig: BoxPipelineConfig { inputs.boxConfig }

    /// Finds boxes for images that come without them (`detectBoxes`); nil: such images get the dummy box.
    public var detector: (any BoxDetector)?
    /// What loading noticed and a user should hear once (e.g. a checkpoint's LLM tensors left out for a GGUF LLM).
    public internal(set) var loadNotes: [String] = []
    /// What `detector` looks for.
    public var detectionQueries = DetectionQueries(tags: [])
    /// Every record `boxes(_:orDetectIn:id:)` made with the detector, in order (evaluation writes them out).
    public private(set) var detectedBoxes: [BoxRecord] = []

    /// The name `imageSizeAux` goes by in errors (`image_size_aux`, `--image-size-aux`).
    public let sizeField: String

    /// Assembles a pipeline around a loaded model. `imageSizeAux` is checked against the towers now (the error
    /// names `field`), or, with `forImages: false` (a text-only chat), when the first image is prepared; the CLIP
    /// input size comes from the model.
    public convenience init(
        model: MGLLaVAModel, tokenizer: Tokenizer, template: PromptTemplate, imageSizeAux: Int = 768,
        padToSquare: Bool = true, limitNum: Int = 100, field: String = "image_size_aux",
        forImages: Bool = true
    ) throws {
        try self.init(
            model: model,
            inputs: InputSettings(
                tokenizer: tokenizer, template: template, clipSize: model.visualEncoder.architecture.imageSize,
                imageSizeAux: imageSizeAux, padToSquare: padToSquare, limitNum: limitNum),
            field: field, forImages: forImages)
    }

    /// Assembles a pipeline from a loaded model and input settings built for it (their CLIP size must be the
    /// model's); the high-resolution size is checked as in the other initialiser.
    public init(
        model: MGLLaVAModel, inputs: InputSettings, field: String = "image_size_aux", forImages: Bool = true
    )
        throws
    {
        if forImages { try model.checkImageSizeAux(inputs.processor.auxSize, field: field) }
        sizeField = field
        self.model = model
        self.inputs = inputs
    }

    /// Loads a model for inference from upstream's artifacts: the HF LLM folder, the HF CLIP folder, the open_clip
    /// ConvNeXt folder and optionally MG-LLaVA's `.pth` (or a safetensors checkpoint). Weights stay in place
    /// (memory-mapped, 16-bit where stored so) and nothing is trainable. The tokenizer is read from `tokenizer`,
    /// or from the LLM folder. `adapter`: a PEFT LoRA folder applied to the LLM without merging; `lora`: the
    /// adapters a LoRA training run's checkpoint (`pth`) holds (its config's `llm_lora`; `visualEncoderLoRA`: its
    /// `visual_encoder_lora`).
    public static func load(
        llm: URL, visualEncoder: URL, visualEncoderAux: URL, pth: URL? = nil, adapter: URL? = nil,
        lora: LoRAConfig? = nil, visualEncoderLoRA: LoRAConfig? = nil, tokenizer: URL? = nil,
        template: PromptTemplate = .vicuna, imageSizeAux: Int = 768, padToSquare: Bool = true,
        limitNum: Int = 100, field: String = "image_size_aux",
        forImages: Bool = true
    ) throws -> InferencePipeline {
        var notes: [String] = []
        let model = try MGLLaVAModel.load(
            llm: llm, visualEncoder: visualEncoder, visualEncoderAux: visualEncoderAux,
            pth: pth, frozen: true, lora: lora, visualEncoderLoRA: visualEncoderLoRA
        ) { summary in
            if summary.skippedLLMTensors > 0, let pth {
                notes.append(
                    "\(pth.path): its \(summary.skippedLLMTensors) llm.* tensors are not used (the LLM weights come "
                        + "from \(llm.lastPathComponent))")
            }
        }
        if let adapter {
            let config = try PEFTAdapter.load(adapter, into: model.llm)
            notes.append("\(adapter.path): LoRA r \(config.r), alpha \(config.alpha) on the LLM")
        }
        model.eval()
        let pipeline = try InferencePipeline(
            model: model, tokenizer: try Tokenizer.forLLM(llm, tokenizer: tokenizer), template: template,
            imageSizeAux: imageSizeAux, padToSquare: padToSquare,
            limitNum: limitNum, field: field, forImages: forImages)
        pipeline.loadNotes = notes
        return pipeline
    }

    /// Pixels at both resolutions and the image's boxes through upstream's box pipeline (nil or no detections:
    /// the dummy box).
    public func visualInputs(_ image: RGBImage, boxes: BoxRecord?) throws -> VisualInputs {
        try model.checkImageSizeAux(processor.auxSize, field: sizeField)
        return try VisualInputs.prepare(image, boxes: boxes, processor: processor, boxConfig: boxConfig)
    }

    /// Boxes for an image that has none: `detector` on `detectionQueries`, as upstream's box JSON entry `id`
    /// (its boxes in original pixels, scores, tag labels). Throws when no detector or no tags are set.
    public func detectBoxes(in image: RGBImage, id: BoxRecordID = .string("image")) throws -> BoxRecord {
        guard let detector else { throw DetectorError("no detector is set: give one (--detector DIR) to make boxes") }
        guard detector.choosesTags || !detectionQueries.tags.isEmpty else {
            throw DetectorError("the detector has no tags to look for (--queries or --queries-file)")
        }
        return BoxRecord(id: id, detections: try detector.detect(image, queries: detectionQueries))
    }

    /// `record` when there is one; otherwise, with a detector set, its boxes for `image` (kept in `detectedBoxes`);
    /// otherwise nil (the dummy box).
    public func boxes(_ record: BoxRecord?, orDetectIn image: RGBImage, id: BoxRecordID) throws -> BoxRecord? {
        if let record { return record }
        guard detector != nil else { return nil }
        let found = try detectBoxes(in: image, id: id)
        detectedBoxes.append(found)
        return found
    }

    /// A conversation about `image` (nil: text only).
    public func chat(about image: RGBImage?, boxes: BoxRecord? = nil, system: String = "") throws -> ChatSession {
        ChatSession(
            model: model, tokenizer: tokenizer, template: template,
            visual: try image.map { try visualInputs($0, boxes: boxes) }, system: system)
    }

    /// One greedy answer to `prompt` about `image`, decoded without special tokens and stripped, as upstream's
    /// evaluation datasets produce it.
    public func answer(_ prompt: String, about image: RGBImage, boxes: BoxRecord?, maxNewTokens: Int) throws -> String {
        let session = try chat(about: image, boxes: boxes)
        let reply = try withNoGrad { try session.send(prompt, maxNewTokens: maxNewTokens, sampling: .greedy) }
        return reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
