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
        let cfg = try model.resolvedConfig()
        let url = path(data)
        let table = try TSVTable.read(url)
        let cIndex = try table.requireColumn("index"), cImage = try table.requireColumn("image")
        let cQuestion = try table.requireColumn("question"), cAnswer = try table.requireColumn("answer")
        let cCategory = try table.requireColumn("category")
        let cPath = table.columnIndex("image_path")
        struct Row { var index: Int; var image: String; var question: String; var answer: String; var category: String; var path: String? }
        var rows: [Row] = []
        for r in table.rows.indices {
            guard let index = table.value(row: r, column: cIndex).flatMap({ Int($0) ?? Double($0).map { Int($0) } }) else {
                throw UnknownConfig(message: "\(url.path):\(table.lines[r]): index is not an integer")
            }
            rows.append(Row(index: index, image: table.value(row: r, column: cImage) ?? "",
                            question: table.value(row: r, column: cQuestion) ?? "",
                            answer: table.value(row: r, column: cAnswer) ?? "",
                            category: table.value(row: r, column: cCategory) ?? "",
                            path: cPath.flatMap { table.value(row: r, column: $0) }))
        }
        let byIndex = Dictionary(rows.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
        /// A short image value is another row's index (VLMEvalKit stores each image once).
        func base64(_ row: Row) -> (String, String) {
            if row.image.count < 16, let i = Int(row.image), let target = byIndex[i] { return (target.image, "image \(i)") }
            return (row.image, "image \(row.index)")
        }

        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let prepared = try model.prepare(cfg, boxes: boxes, root: root)
        let g = prepared.evaluator
        let log = try prepared.openLog(for: url, name: url.deletingPathExtension().lastPathComponent)
        let progress = RowProgress()
        let selected = model.limit.map { Array(rows.prefix($0)) } ?? rows
        var samples: [MMESample] = []
        for (i, row) in selected.enumerated() {
            let (data, key) = base64(row)
            let prediction: String
            if let earlier = log.entries[row.index] {
                prediction = earlier.prediction
            } else {
                var entry: PredictionLog.Entry
                do {
                    guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters), !bytes.isEmpty else {
                        throw UnknownConfig(message: "index \(row.index): the image is not base64")
                    }
                    let image = try ImageDecoder.decode(bytes, source: "\(url.path) index \(row.index)")
                    let record = try boxes.map { try $0.record(for: String(row.index)) }
                    let visual = try VisualInputs.prepare(image, boxes: record, processor: g.processor, boxConfig: g.boxConfig)
                    let question = row.question.replacingOccurrences(
                        of: "Please answer yes or no.", with: "Please answer the question only a single word yes or no.")
                    let session = ChatSession(model: g.model, tokenizer: g.tokenizer, template: g.template, visual: visual)
                    let reply = try withNoGrad { try session.send(question, maxNewTokens: g.maxNewTokens, sampling: .greedy) }
                    entry = PredictionLog.Entry(index: row.index, prediction: reply.text.trimmingCharacters(in: .whitespacesAndNewlines))
                } catch {
                    entry = PredictionLog.Entry(index: row.index, prediction: "", skipped: "\(error)")
                }
                try log.record(entry)
                prediction = entry.prediction
            }
            samples.append(MMESample(index: row.index, category: row.category, imagePath: row.path ?? key,
                                     answer: row.answer, prediction: prediction))
            progress.update(i + 1, selected.count)
        }
        let scores = try MMEScorer.evaluate(samples)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let out = prepared.workDir.appendingPathComponent("\(url.deletingPathExtension().lastPathComponent)-results.json")
        try encoder.encode(scores).write(to: out, options: .atomic)
        if !log.skipped.isEmpty { print("\(log.skipped.count) rows skipped (no usable image or boxes; answered \"\")") }
        print("category".padding(toLength: 24, withPad: " ", startingAt: 0) + "   acc    acc+   score")
        for c in scores.categories {
            print(c.category.padding(toLength: 24, withPad: " ", startingAt: 0)
                  + String(format: " %6.2f  %6.2f  %6.2f", c.accuracy * 100, c.accuracyPlus * 100, c.score))
        }
        func total(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a (categories missing)" }
        print("perception \(total(scores.perception)), reasoning \(total(scores.reasoning))")
        print("outputs:\n  results     \(out.path)\n  results     \(log.url.path)")
    }
}
