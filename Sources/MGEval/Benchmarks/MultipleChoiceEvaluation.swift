import Foundation
import MGData

/// A multiple-choice TSV (MMBench, SEED, SQA, AI2D, MMStar, MMMU) answered and scored with upstream's circular
/// evaluation, and the results files (xlsx, csv, json) written.
public enum MultipleChoiceEvaluation {
    /// The run's outcome. `scores` is nil when a `limit` left no complete circular group to score yet.
    public struct Result {
        public var scores: MultipleChoiceScores?
        /// The rows scored (all of them, or the complete circular groups among the first `limit`).
        public var scored: MultipleChoiceDataset
        /// Results files, then the prediction log.
        public var files: [URL]
        /// Log entries of scored rows that were skipped (unusable image or boxes), with their reasons.
        public var skipped: [PredictionLog.Entry]
        public var log: PredictionLog
    }

    /// The eval box JSON upstream would use: `<tsv name>_boxes.json` next to the TSV, if it exists.
    public static func defaultBoxFile(for dataset: MultipleChoiceDataset) -> URL? {
        let guess = dataset.url.deletingLastPathComponent().appendingPathComponent(dataset.name + "_boxes.json")
        return FileManager.default.fileExists(atPath: guess.path) ? guess : nil
    }

    public static func run(
        _ context: EvaluationContext, dataset: MultipleChoiceDataset, boxes: BoxIndex?,
        onLog: (PredictionLog) -> Void = { _ in }, onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> Result {
        let evaluator = MultipleChoiceEvaluator(
            pipeline: context.pipeline, boxes: boxes, maxNewTokens: context.loop.maxNewTokens)
        // Predictions go to disk as they come; a rerun with the same settings continues from them.
        let log = try context.openLog(for: dataset.url, name: dataset.name)
        onLog(log)
        var predictions = try evaluator.predictAll(dataset, limit: context.limit, log: log, onRow: onRow)
        var scored = dataset
        if let limit = context.limit, limit < dataset.rows.count {
            // Score the evaluated rows only: a circular group cut by the limit is dropped whole.
            let kept = Set(predictions.keys)
            let groups = Dictionary(grouping: dataset.rows, by: { $0.index % MultipleChoiceScorer.circularStride })
            let complete = groups.filter { $0.value.allSatisfy { kept.contains($0.index) } }
            let rows = dataset.rows.filter { complete[$0.index % MultipleChoiceScorer.circularStride] != nil }
            guard !rows.isEmpty else {
                return Result(scores: nil, scored: dataset, files: [log.url], skipped: [], log: log)
            }
            scored = MultipleChoiceDataset(
                url: dataset.url, rows: rows, split: dataset.split, hasL2Category: dataset.hasL2Category)
            predictions = predictions.filter { complete[$0.key % MultipleChoiceScorer.circularStride] != nil }
        }
        let skipped = log.skipped.filter { predictions[$0.index] != nil }
        let (scores, files) = try score(scored, predictions: predictions, workDir: context.workDir)
        return Result(scores: scores, scored: scored, files: files + [log.url], skipped: skipped, log: log)
    }

    /// Upstream's scoring of `predictions` (row index → answer text) and the results files in `workDir`.
    public static func score(
        _ dataset: MultipleChoiceDataset, predictions: [Int: String], workDir: URL
    ) throws
        -> (scores: MultipleChoiceScores, files: [URL])
    {
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions)
        let files = try MultipleChoiceResults.write(dataset: dataset, scores: scores, to: workDir)
        return (scores, files.all)
    }
}
