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
        let cfg = try model.resolvedConfig()
        let url = path(data)
        let asked = try EvalQuestions.load(url)
        let official: [GQAQuestion]
        do {
            official = try GQAScorer.parseQuestions(try Data(contentsOf: path(questions)))
        } catch {
            throw UnknownConfig(message: "\(path(questions).path): \(error)")
        }
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let prepared = try model.prepare(cfg, boxes: boxes, root: root)
        let (answers, log) = try prepared.answer(asked, file: url, imageFolder: path(imageFolder), suffix: "",
                                                 limit: model.limit)
        let predictions = GQAScorer.predictions(zip(asked, answers).map { (questionID: $0.id, text: $1) })

        // Upstream's upload/eval file: [{"questionId", "prediction"}] in question order.
        let rows = asked.prefix(answers.count).map { ["questionId": $0.id, "prediction": predictions[$0.id] ?? ""] }
        let predictionsURL = prepared.workDir.appendingPathComponent("testdev_balanced_predictions.json")
        try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]).write(to: predictionsURL, options: .atomic)
        // A --limit run scores only what it answered; a full run needs every balanced question answered.
        let scores = try GQAScorer.evaluate(questions: official, predictions: predictions,
                                            requireAllPredictions: model.limit == nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let out = prepared.workDir.appendingPathComponent("gqa-results.json")
        try encoder.encode(scores).write(to: out, options: .atomic)
        if !log.skipped.isEmpty { print("\(log.skipped.count) questions skipped (no usable image or boxes; scored as \"\")") }
        print(String(format: "GQA accuracy: %.2f (binary %.2f, open %.2f; %d questions)", scores.accuracy, scores.binary,
                     scores.open, scores.count))
        print("outputs:\n  results     \(out.path)\n  results     \(predictionsURL.path)\n  results     \(log.url.path)")
    }
}
