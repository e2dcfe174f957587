import ArgumentParser
import Foundation
import MGEval
import MGTrain

/// `mgllava eval gqa`: GQA testdev-balanced (SPEC §6.2) — questions as stored in LLaVA's
/// `llava_gqa_testdev_balanced.jsonl`, greedy answers cleaned as upstream writes them (trailing '.' stripped,
/// lower case) into `testdev_balanced_predictions.json`, scored as `eval_gqa.py` does against
/// `testdev_balanced_questions.json` (accuracy, binary/open, per type, distribution).
struct EvalGQACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gqa",
        abstract: "GQA testdev-balanced with the official accuracy breakdown.")

    @OptionGroup var model: EvalModelOptions

    @Option(help: "Questions (JSON lines: question_id, image, text), e.g. llava_gqa_testdev_balanced.jsonl.")
    var data: String

    @Option(help: "The official questions with answers, testdev_balanced_questions.json.")
    var questions: String

    @Option(help: "The folder the questions' image paths are relative to (upstream: gqa/images).")
    var imageFolder: String

    @Option(help: "Eval box JSON keyed by question_id (optional).")
    var boxJson: String?

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let context = try model.prepare(try model.resolvedConfig(), root: root)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let progress = RowProgress()
        let (scores, outputs) = try GQAEvaluation.run(
            context, questions: path(data), official: path(questions), imageFolder: path(imageFolder), boxes: boxes,
            onLog: announce, onRow: progress.update)
        if outputs.skipped > 0 {
            print("\(outputs.skipped) questions skipped (no usable image or boxes; scored as \"\")")
        }
        print(
            String(
                format: "GQA accuracy: %.2f (binary %.2f, open %.2f; %d questions)", scores.accuracy, scores.binary,
                scores.open, scores.count))
        try printOutputs(outputs.files, context)
    }
}
