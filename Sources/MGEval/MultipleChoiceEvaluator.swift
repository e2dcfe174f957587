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

public struct MultipleChoiceEvaluator {
    public let model: MGLLaVAModel
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let processor: ImageProcessor
    public let boxConfig: BoxPipelineConfig
    /// The eval box JSON keyed by row index (nil: no detections, every image gets upstream's dummy box).
    public let boxes: BoxIndex?
    public let maxNewTokens: Int

    public init(model: MGLLaVAModel, tokenizer: Tokenizer, template: PromptTemplate, processor: ImageProcessor,
                boxConfig: BoxPipelineConfig, boxes: BoxIndex?, maxNewTokens: Int = 100) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.processor = processor
        self.boxConfig = boxConfig
        self.boxes = boxes
        self.maxNewTokens = maxNewTokens
    }

    /// The boxes of a row: looked up by the row's `index` as upstream does; a circular copy without its own entry
    /// falls back to its main question's (same image). A box file that lacks both is an error naming the index.
    func boxRecord(for row: MultipleChoiceRow, dataset: MultipleChoiceDataset) throws -> BoxRecord? {
        guard let boxes else { return nil }
        if let found = try? boxes.record(for: String(row.index)) { return found }
        if let found = try? boxes.record(for: String(row.index % 1_000_000)) { return found }
        throw MissingEvalBoxes(dataset: dataset.url.path, index: row.index)
    }

    /// The model's answer text for one row.
    public func predict(_ row: MultipleChoiceRow, in dataset: MultipleChoiceDataset) throws -> String {
        let image = try ImageDecoder.decode(try dataset.imageData(for: row), source: "\(dataset.url.path) index \(row.index)")
        let prompt = dataset.promptText(for: row)
        let visual = try VisualInputs.prepare(image, boxes: try boxRecord(for: row, dataset: dataset),
                                              processor: processor, boxConfig: boxConfig)
        let session = ChatSession(model: model, tokenizer: tokenizer, template: template, visual: visual)
        let reply = try session.send(prompt, maxNewTokens: maxNewTokens, sampling: .greedy)
        return reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Predictions for every row (`limit`: the first rows only), each recorded in `log` as soon as it exists;
    /// rows the log already holds (an interrupted run) are not generated again. A row whose image or boxes
    /// cannot be used (missing or broken base64, undecodable image, no box entry, a prompt longer than the
    /// context) is recorded as skipped with its reason and an empty prediction — scored as wrong, so the
    /// denominators stay upstream's — and the run goes on. `onRow(done, total)` reports progress.
    public func predictAll(_ dataset: MultipleChoiceDataset, limit: Int? = nil, log: PredictionLog? = nil,
                           onRow: (Int, Int) -> Void = { _, _ in }) throws -> [Int: String] {
        let rows = limit.map { Array(dataset.rows.prefix($0)) } ?? dataset.rows
        var predictions: [Int: String] = [:]
        var failures = 0, firstFailure: String?
        for (i, row) in rows.enumerated() {
            if let earlier = log?.entries[row.index] {
                predictions[row.index] = earlier.prediction
                onRow(i + 1, rows.count)
                continue
            }
            var entry: PredictionLog.Entry
            do {
                entry = PredictionLog.Entry(index: row.index, prediction: try withNoGrad { try predict(row, in: dataset) })
            } catch {
                failures += 1
                firstFailure = firstFailure ?? "index \(row.index): \(error)"
                entry = PredictionLog.Entry(index: row.index, prediction: "", skipped: "\(error)")
            }
            try log?.record(entry)
            predictions[row.index] = entry.prediction
            onRow(i + 1, rows.count)
        }
        if failures == rows.count && !rows.isEmpty {
            // Nothing worked: a setup problem, not bad rows.
            throw EveryRowFailed(dataset: dataset.url.path, rows: rows.count, first: firstFailure ?? "")
        }
        return predictions
    }
}
