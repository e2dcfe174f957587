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

    func validate() throws {
        if data.isEmpty { throw ValidationError("give at least one --data file") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let context = try model.prepare(try model.resolvedConfig(), root: root)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let progress = RowProgress()
        let (scores, outputs) = try POPEEvaluation.run(
            context, files: data.map(path), imageFolder: path(imageFolder), boxes: boxes,
            onFile: { split, count, log in
                print("\(split): \(count) questions"); announce(log)
            }, onRow: progress.update)
        if outputs.skipped > 0 {
            print("\(outputs.skipped) questions skipped (no usable image or boxes; counted as answered \"\")")
        }
        print(
            "split".padding(toLength: 28, withPad: " ", startingAt: 0) + "  acc     prec    recall  F1      yes-ratio")
        func pct(_ v: Double?) -> String { v.map { String(format: "%6.2f", $0 * 100) } ?? "   n/a" }
        for s in scores.splits {
            print(
                s.split.padding(toLength: 28, withPad: " ", startingAt: 0)
                    + "  \(pct(s.accuracy))  \(pct(s.precision))  \(pct(s.recall))  \(pct(s.f1))  \(pct(s.yesRatio))")
        }
        print("score (mean F1): \(pct(scores.score))")
        try printOutputs(outputs.files, context)
    }
}
