// MGEval — runs a model over a multiple-choice TSV as upstream's TestLoop does (SPEC §6): batch size 1, the
// prompt `<image>\n…` in the template's instruction with no system, greedy decoding until EOS / a stop word or
// `max_new_tokens`, the answer decoded without special tokens and stripped.
import Foundation
import MGData
import MGLLaVA

/// A box JSON given for evaluation that has no entry for a row.
public struct MissingEvalBoxes: Error, CustomStringConvertible {
    public var dataset: String
    public var index: Int
    public var description: String {
        "the eval box JSON has no entry with id \(index) (nor \(index % 1_000_000)) for row index \(index) of \(dataset)"
    }
}

/// Every row failed: the model or the paths are wrong, not the data.
public struct EveryRowFailed: Error, CustomStringConvertible {
    public var dataset: String
    public var rows: Int
    public var first: String
    public var description: String { "all \(rows) rows of \(dataset) failed; the first: \(first)" }
}

/// A multiple-choice TSV through the shared evaluation loop: each row's image from its base64 (or the row it
/// refers to), its boxes from the eval box JSON, its prompt as upstream builds it.
public struct MultipleChoiceEvaluator {
    public let loop: EvaluationLoop
    /// The eval box JSON keyed by row index (nil: no detections, every image gets upstream's dummy box).
    public let boxes: BoxIndex?
    public var pipeline: InferencePipeline { loop.pipeline }
    public var maxNewTokens: Int { loop.maxNewTokens }

    public init(pipeline: InferencePipeline, boxes: BoxIndex?, maxNewTokens: Int = 100) {
        loop = EvaluationLoop(pipeline: pipeline, maxNewTokens: maxNewTokens)
        self.boxes = boxes
    }

    /// The boxes of a row: looked up by the row's `index` as upstream does; a circular copy without its own entry
    /// falls back to its main question's (same image). A box file that lacks both is an error naming the index,
    /// unless the pipeline has a detector (which then makes the row's boxes).
    func boxRecord(for row: MultipleChoiceRow, dataset: MultipleChoiceDataset) throws -> BoxRecord? {
        guard let boxes else { return nil }
        if let found = try? boxes.record(for: String(row.index)) { return found }
        if let found = try? boxes.record(for: String(row.index % 1_000_000)) { return found }
        if loop.pipeline.detector != nil { return nil }
        throw MissingEvalBoxes(dataset: dataset.url.path, index: row.index)
    }

    /// The loop's item for one row.
    public func item(_ row: MultipleChoiceRow, in dataset: MultipleChoiceDataset) -> EvaluationItem {
        EvaluationItem(logIndex: row.index, name: "index \(row.index)", prompt: dataset.promptText(for: row)) {
            let image = try ImageDecoder.decode(
                try dataset.imageData(for: row), source: "\(dataset.url.path) index \(row.index)")
            let record = try boxRecord(for: row, dataset: dataset)
            return (image, try loop.pipeline.boxes(record, orDetectIn: image, id: .int(row.index)))
        }
    }

    /// The model's answer text for one row.
    public func predict(_ row: MultipleChoiceRow, in dataset: MultipleChoiceDataset) throws -> String {
        try loop.answer(item(row, in: dataset))
    }

    /// Predictions for every row (`limit`: the first rows only) by row index, through `EvaluationLoop.run`
    /// (logged as they come, resumed from `log`, unusable rows skipped with their reason).
    public func predictAll(
        _ dataset: MultipleChoiceDataset, limit: Int? = nil, log: PredictionLog? = nil,
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> [Int: String] {
        let rows = limit.map { Array(dataset.rows.prefix($0)) } ?? dataset.rows
        return try loop.run(rows.map { item($0, in: dataset) }, dataset: dataset.url.path, log: log, onRow: onRow)
    }
}
