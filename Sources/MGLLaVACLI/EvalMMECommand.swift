import ArgumentParser
import Foundation
import MGEval
import MGTrain

/// `mgllava eval mme`: MME (SPEC §6) from its LMUData TSV (index, image as base64 or a reference to another row's
/// index, question, answer Yes/No, category, image_path): "Please answer yes or no." becomes "Please answer the
/// question only a single word yes or no.", greedy answers, upstream's yes/no extraction, per-category accuracy
/// and accuracy+ and the perception / reasoning totals.
struct EvalMMECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mme",
        abstract: "MME perception and cognition (yes/no) from its TSV.")

    @OptionGroup var model: EvalModelOptions

    @Option(help: "The MME TSV.")
    var data: String

    @Option(help: "Eval box JSON keyed by row index (optional).")
    var boxJson: String?

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let context = try model.prepare(try model.resolvedConfig(), root: root)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let progress = RowProgress()
        let (scores, outputs) = try MMEEvaluation.run(
            context, data: path(data), boxes: boxes, onLog: announce,
            onRow: progress.update)
        if outputs.skipped > 0 { print("\(outputs.skipped) rows skipped (no usable image or boxes; answered \"\")") }
        print("category".padding(toLength: 24, withPad: " ", startingAt: 0) + "   acc    acc+   score")
        for c in scores.categories {
            print(
                c.category.padding(toLength: 24, withPad: " ", startingAt: 0)
                    + String(format: " %6.2f  %6.2f  %6.2f", c.accuracy * 100, c.accuracyPlus * 100, c.score))
        }
        func total(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a (categories missing)" }
        print("perception \(total(scores.perception)), reasoning \(total(scores.reasoning))")
        try printOutputs(outputs.files, context)
    }
}
