import Foundation
import MGData
import MGLLaVA

/// One thing to answer: its key in the prediction log, a name for messages, the prompt text (what goes after
/// `<image>\n`), and how to get its image and boxes (called only when the answer is not logged already).
public struct EvaluationItem {
    /// The key in the prediction log: the row's `index` (TSV benchmarks) or the question's position (JSON lines).
    public var logIndex: Int
    /// "index 12", "question 345": names the item in skip reasons and errors.
    public var name: String
    public var prompt: String
    public var input: () throws -> (image: RGBImage, boxes: BoxRecord?)

    public init(
        logIndex: Int, name: String, prompt: String, input: @escaping () throws -> (image: RGBImage, boxes: BoxRecord?)
    ) {
        self.logIndex = logIndex
        self.name = name
        self.prompt = prompt
        self.input = input
    }
}

/// The generation loop every benchmark shares (SPEC §6): batch size 1, greedy, each answer written to the
/// prediction log as soon as it exists so an interrupted run resumes, an item whose image or boxes cannot be used
/// (or whose prompt does not fit the context) recorded as skipped with an empty answer and its reason — scored as
/// wrong, so denominators stay upstream's — and the run going on. When every item fails, the setup is wrong
/// (wrong image folder, wrong box file): `EveryRowFailed`.
public struct EvaluationLoop {
    public let pipeline: InferencePipeline
    public let maxNewTokens: Int

    public init(pipeline: InferencePipeline, maxNewTokens: Int) {
        self.pipeline = pipeline
        self.maxNewTokens = maxNewTokens
    }

    /// The answer to one item.
    public func answer(_ item: EvaluationItem) throws -> String {
        let (image, boxes) = try item.input()
        return try pipeline.answer(item.prompt, about: image, boxes: boxes, maxNewTokens: maxNewTokens)
    }

    /// Answers keyed by `logIndex`. `dataset` names the data in `EveryRowFailed`; `onRow(done, total)` reports
    /// progress.
    public func run(
        _ items: [EvaluationItem], dataset: String, log: PredictionLog? = nil,
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> [Int: String] {
        var answers: [Int: String] = [:]
        var failures = 0, firstFailure: String?
        for (i, item) in items.enumerated() {
            if let earlier = log?.entries[item.logIndex] {
                answers[item.logIndex] = earlier.prediction
                onRow(i + 1, items.count)
                continue
            }
            var entry: PredictionLog.Entry
            do {
                entry = PredictionLog.Entry(index: item.logIndex, prediction: try answer(item))
            } catch {
                failures += 1
                firstFailure = firstFailure ?? "\(item.name): \(error)"
                entry = PredictionLog.Entry(index: item.logIndex, prediction: "", skipped: "\(item.name): \(error)")
            }
            try log?.record(entry)
            answers[item.logIndex] = entry.prediction
            onRow(i + 1, items.count)
        }
        if failures == items.count && !items.isEmpty {
            throw EveryRowFailed(dataset: dataset, rows: items.count, first: firstFailure ?? "")
        }
        return answers
    }
}
