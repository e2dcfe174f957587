import ArgumentParser
import Foundation
import MGData
import MGEval
import MGTrain

/// `mgllava eval textvqa`: TextVQA val (SPEC §6.2) — the question text as stored in LLaVA's
/// `llava_textvqa_val_v051_ocr.jsonl` (it already holds the OCR reference and the instruction), greedy answers,
/// matched to `TextVQA_0.5.1_val.json` as upstream matches them, VQA soft accuracy after EvalAI normalisation.
struct EvalTextVQACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "textvqa",
        abstract: "TextVQA val with the standard VQA soft accuracy.")

    @OptionGroup var model: EvalModelOptions

    @Option(help: "Questions (JSON lines: question_id, image, text), e.g. llava_textvqa_val_v051_ocr.jsonl.")
    var data: String

    @Option(help: "Reference answers, TextVQA_0.5.1_val.json.")
    var annotations: String

    @Option(help: "The folder the questions' image paths are relative to (upstream: text_vqa/train_images).")
    var imageFolder: String

    @Option(help: "Eval box JSON keyed by question_id (optional).")
    var boxJson: String?

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let context = try model.prepare(try model.resolvedConfig(), root: root)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let progress = RowProgress()
        let (score, questions, outputs) = try TextVQAEvaluation.run(
            context, questions: path(data), annotations: path(annotations), imageFolder: path(imageFolder),
            boxes: boxes,
            onLog: announce, onRow: progress.update)
        if outputs.skipped > 0 {
            print("\(outputs.skipped) questions skipped (no usable image or boxes; scored as \"\")")
        }
        print(String(format: "TextVQA accuracy: %.2f (%d questions)", score.percent, questions))
        try printOutputs(outputs.files, context)
    }
}
