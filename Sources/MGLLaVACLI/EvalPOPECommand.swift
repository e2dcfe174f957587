import ArgumentParser
import Foundation
import MGEval
import MGTrain

/// `mgllava eval pope`: POPE (SPEC §6.2) — the question text plus "\nPlease answer the question with yes or no.",
/// greedy answers, upstream's yes/no extraction, accuracy / precision / recall / F1 per file (split) and their
/// mean F1 as the score.
struct EvalPOPECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pope",
        abstract: "POPE object-hallucination benchmark (coco_pope_{adversarial,popular,random}.json).")

    @OptionGroup var model: EvalModelOptions

    @Option(help: "A POPE question file (JSON lines with question_id, image, text, label); repeat for each split.")
    var data: [String]

    @Option(help: "The folder the files' image paths are relative to (upstream: coco/val2014).")
    var imageFolder: String

    @Option(help: "Eval box JSON keyed by question_id (optional: without it every image gets the dummy box).")
    var boxJson: String?

    static let suffix = "\nPlease answer the question with yes or no."

    func validate() throws {
        if data.isEmpty { throw ValidationError("give at least one --data file") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let cfg = try model.resolvedConfig()
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let prepared = try model.prepare(cfg, boxes: boxes, root: root)
        var samples: [POPESample] = []
        var skipped = 0
        for file in data {
            let url = path(file)
            let questions = try EvalQuestions.load(url)
            let split = url.deletingPathExtension().lastPathComponent
            for q in questions where q.label == nil {
                throw UnknownConfig(message: "\(url.path):\(q.line): question \(q.id) has no \"label\"")
            }
            print("\(split): \(questions.count) questions")
            let (answers, log) = try prepared.answer(questions, file: url, imageFolder: path(imageFolder),
                                                     suffix: Self.suffix, limit: model.limit)
            skipped += log.skipped.count
            for (q, answer) in zip(questions, answers) {
                samples.append(POPESample(questionID: q.id, split: split, label: q.label ?? "", prediction: answer))
            }
        }
        let scores = try POPEScorer.evaluate(samples)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let out = prepared.workDir.appendingPathComponent("pope-results.json")
        try encoder.encode(scores).write(to: out, options: .atomic)
        if skipped > 0 { print("\(skipped) questions skipped (no usable image or boxes; counted as answered \"\")") }
        print("split".padding(toLength: 28, withPad: " ", startingAt: 0) + "  acc     prec    recall  F1      yes-ratio")
        func pct(_ v: Double?) -> String { v.map { String(format: "%6.2f", $0 * 100) } ?? "   n/a" }
        for s in scores.splits {
            print(s.split.padding(toLength: 28, withPad: " ", startingAt: 0)
                  + "  \(pct(s.accuracy))  \(pct(s.precision))  \(pct(s.recall))  \(pct(s.f1))  \(pct(s.yesRatio))")
        }
        print("score (mean F1): \(pct(scores.score))")
        print("outputs:\n  results     \(out.path)")
    }
}
