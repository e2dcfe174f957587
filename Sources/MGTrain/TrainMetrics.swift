// MGTrain — per-step metrics and the progress callback (DESIGN §6).
import Foundation

/// One optimizer step's record, one line of `metrics.jsonl` and one entry of `trainer_state.json`'s history.
public struct TrainMetricsRecord: Codable, Equatable, Sendable {
    /// Micro-batch iterations done after this step (mmengine's `runner.iter + 1`; the `N` of `iter_N`).
    public var iteration: Int
    /// Optimizer steps done after this step.
    public var step: Int
    public var epoch: Int
    /// The loss as upstream logs it: the mean of the micro-batch losses of this step (unscaled).
    public var loss: Double
    public var lr: Double
    /// Global gradient norm before clipping (NaN/inf when the step was skipped).
    public var gradNorm: Double
    /// Tokens the LLM processed in this step (attention-mask ones, visual tokens included).
    public var tokens: Int

    public init(iteration: Int, step: Int, epoch: Int, loss: Double, lr: Double, gradNorm: Double, tokens: Int) {
        self.iteration = iteration
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.lr = lr
        self.gradNorm = gradNorm
        self.tokens = tokens
    }

    enum CodingKeys: String, CodingKey {
        case iteration, step, epoch, loss, lr, tokens
        case gradNorm = "grad_norm"
    }
}

/// What the progress callback sees after each optimizer step.
public struct TrainProgress: Sendable {
    public var record: TrainMetricsRecord
    /// Total micro-batch iterations of the run.
    public var totalIterations: Int
    /// Tokens per second over this process's steps so far (wall clock; resumed steps are not counted).
    public var tokensPerSecond: Double
    /// Estimated seconds left, from this process's mean time per iteration.
    public var etaSeconds: Double

    public var iteration: Int { record.iteration }
    public var loss: Double { record.loss }
    public var lr: Double { record.lr }
}

/// Encoders shared by metrics and trainer state: sorted keys for stable files, and non-finite floats spelled
/// out (a diverged step's NaN must still be written; JSONEncoder refuses NaN by default).
enum TrainJSON {
    static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}

/// `metrics.jsonl`: one JSON object per optimizer step, appended and fsync'ed so a killed run loses at most
/// the line being written.
final class MetricsLog {
    let url: URL
    /// False on every rank but 0: one file per run, written by one process.
    let enabled: Bool

    init(url: URL, enabled: Bool = true) {
        self.url = url
        self.enabled = enabled
    }

    func append(_ record: TrainMetricsRecord) throws {
        guard enabled else { return }
        var line = try TrainJSON.encoder().encode(record)
        line.append(0x0A)
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
            try handle.synchronize()
        } catch {
            throw TrainerError.writeFailed(url.path, DataError.plainReason(error))
        }
    }

    /// Replaces the file with exactly `records` (atomically): on resume, lines written after the checkpoint by
    /// the interrupted run are dropped, so the file again describes one run.
    func rewrite(_ records: [TrainMetricsRecord]) throws {
        guard enabled else { return }
        let encoder = TrainJSON.encoder()
        var data = Data()
        for record in records {
            data.append(try encoder.encode(record))
            data.append(0x0A)
        }
        try data.write(to: url, options: .atomic)
    }

    static func read(_ url: URL) throws -> [TrainMetricsRecord] {
        let decoder = TrainJSON.decoder()
        return try String(decoding: Data(contentsOf: url), as: UTF8.self)
            .split(separator: "\n").map { try decoder.decode(TrainMetricsRecord.self, from: Data($0.utf8)) }
    }
}
