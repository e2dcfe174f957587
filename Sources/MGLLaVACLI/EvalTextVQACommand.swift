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
        let cfg = try model.resolvedConfig()
        let url = path(data)
        let questions = try EvalQuestions.load(url)
        let references: [TextVQAAnnotation]
        do {
            references = try TextVQAMatching.parseAnnotations(try Data(contentsOf: path(annotations)))
        } catch let error as ScorerError {
            throw UnknownConfig(message: "\(path(annotations).path): \(error)")
        } catch {
            throw UnknownConfig(message: "\(path(annotations).path): \(DataError.plainReason(error))")
        }
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let prepared = try model.prepare(cfg, boxes: boxes, root: root)
        let name = url.deletingPathExtension().lastPathComponent
        let (answers, log) = try prepared.answer(questions, file: url, imageFolder: path(imageFolder), suffix: "",
                                                 limit: model.limit)
        let results = zip(questions, answers).map { (questionID: $0.id, prompt: $0.text, prediction: $1) }
        let entries = try TextVQAMatching.entries(results: results, annotations: references)
        let score = try VQAAccuracy.evaluate(entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let out = prepared.workDir.appendingPathComponent("\(name)-results.json")
        try encoder.encode(score).write(to: out, options: .atomic)
        if !log.skipped.isEmpty { print("\(log.skipped.count) questions skipped (no usable image or boxes; scored as \"\")") }
        print(String(format: "TextVQA accuracy: %.2f (%d questions)", score.percent, entries.count))
        print("outputs:\n  results     \(out.path)\n  results     \(log.url.path)")
    }
}
