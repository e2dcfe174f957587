import Foundation
import MGData
import MGLLaVA

/// What every benchmark run shares: the loop that answers (a pipeline and a generation limit), where results go,
/// and what identifies a prediction log (the data file, the weights, the LLM, the template, the limits) so that a
/// rerun under the same settings resumes it and one under other settings starts over.
public struct EvaluationContext {
    public let loop: EvaluationLoop
    public let workDir: URL
    /// The trained weights and the LLM folder, recorded in prediction logs.
    public let weights: URL
    public let llm: URL
    public let imageSizeAux: Int
    /// Answer only the first N rows or questions of each file (a quick look).
    public let limit: Int?

    public init(
        pipeline: InferencePipeline, maxNewTokens: Int, weights: URL, llm: URL, imageSizeAux: Int,
        workDir: URL, limit: Int? = nil
    ) {
        loop = EvaluationLoop(pipeline: pipeline, maxNewTokens: maxNewTokens)
        self.workDir = workDir
        self.weights = weights
        self.llm = llm
        self.imageSizeAux = imageSizeAux
        self.limit = limit
    }

    public var pipeline: InferencePipeline { loop.pipeline }

    /// `<name>-predictions.jsonl` in the work dir: resumed when written under the same settings (`resumed`),
    /// started over otherwise (`discardedStale`).
    public func openLog(for data: URL, name: String) throws -> PredictionLog {
        func bytes(_ url: URL) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? -1
        }
        let meta = PredictionLog.Meta(
            dataset: data.path, datasetBytes: bytes(data), checkpoint: weights.path,
            checkpointBytes: bytes(weights), llm: llm.path, template: pipeline.template.name,
            maxNewTokens: loop.maxNewTokens, imageSizeAux: imageSizeAux)
        return try PredictionLog(url: workDir.appendingPathComponent("\(name)-predictions.jsonl"), meta: meta)
    }

    /// Answers an open-ended question file (its first `limit` questions), logged under the file's base name.
    public func answer(
        _ questions: [EvalQuestion], file: URL, imageFolder: URL, suffix: String, boxes: BoxIndex?,
        onLog: (PredictionLog) -> Void = { _ in }, onRow: (Int, Int) -> Void = { _, _ in }
    ) throws
        -> (answers: [String], log: PredictionLog)
    {
        let evaluator = OpenEndedEvaluator(
            pipeline: pipeline, boxes: boxes, maxNewTokens: loop.maxNewTokens,
            imageFolder: imageFolder, suffix: suffix)
        let log = try openLog(for: file, name: file.deletingPathExtension().lastPathComponent)
        onLog(log)
        return (try evaluator.predictAll(questions, limit: limit, log: log, onRow: onRow), log)
    }

    /// The boxes the pipeline's detector made for images the box JSON lacked, merged into `detected-boxes.json`
    /// in the work dir (upstream's box JSON format, so it can be given as the box JSON next time; a resumed run adds
    /// to it). Nil when nothing was detected.
    public func writeDetectedBoxes() throws -> URL? {
        guard !pipeline.detectedBoxes.isEmpty else { return nil }
        let url = workDir.appendingPathComponent("detected-boxes.json")
        var merged: [String: BoxRecord] = [:]
        var order: [String] = []
        let earlier = FileManager.default.fileExists(atPath: url.path) ? try BoxIndex.load(contentsOf: url) : nil
        let before = earlier.map { $0.records.values.sorted { $0.id.key < $1.id.key } } ?? []
        for record in before + pipeline.detectedBoxes {
            if merged.updateValue(record, forKey: record.id.key) == nil { order.append(record.id.key) }
        }
        return try writeJSON(order.compactMap { merged[$0] }, name: url.lastPathComponent)
    }

    /// Writes `value` as pretty, key-sorted JSON to `name` in the work dir and returns its URL.
    public func writeJSON<T: Encodable>(_ value: T, name: String) throws -> URL {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = workDir.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
            try encoder.encode(value).write(to: url, options: .atomic)
        } catch {
            throw EvalError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
        return url
    }
}

/// What a benchmark run produced besides its scores: the files written and the items skipped.
public struct EvaluationOutputs: Sendable {
    /// Results files, then prediction logs, in the order a reader wants them.
    public var files: [URL]
    /// Items whose image or boxes could not be used (answered "", scored as wrong / "no").
    public var skipped: Int
}
