// MGEval — predictions written as they are produced (`<name>-predictions.jsonl`), so an interrupted evaluation
// resumes where it stopped, and so a run can be re-scored later without the model (`mgllava eval score`).
import Foundation
import MGData
import MGJSON

/// A benchmark's predictions on disk (`<name>-predictions.jsonl`): a header with the settings, then one line per
/// answer, flushed as it comes so an interrupted evaluation resumes.
public final class PredictionLog {
    /// What the predictions depend on; a log written under different settings is not reused.
    public struct Meta: Codable, Equatable, Sendable {
        public var dataset: String
        public var datasetBytes: Int
        public var checkpoint: String
        public var checkpointBytes: Int
        public var llm: String
        public var template: String
        public var maxNewTokens: Int
        public var imageSizeAux: Int

        public init(
            dataset: String, datasetBytes: Int, checkpoint: String, checkpointBytes: Int, llm: String,
            template: String, maxNewTokens: Int, imageSizeAux: Int
        ) {
            self.dataset = dataset
            self.datasetBytes = datasetBytes
            self.checkpoint = checkpoint
            self.checkpointBytes = checkpointBytes
            self.llm = llm
            self.template = template
            self.maxNewTokens = maxNewTokens
            self.imageSizeAux = imageSizeAux
        }

        enum CodingKeys: String, CodingKey {
            case dataset, checkpoint, llm, template
            case datasetBytes = "dataset_bytes"
            case checkpointBytes = "checkpoint_bytes"
            case maxNewTokens = "max_new_tokens"
            case imageSizeAux = "image_size_aux"
        }
    }

    /// One line: a row's prediction, or why the row was skipped (its prediction is then "").
    public struct Entry: Codable, Equatable, Sendable {
        public var index: Int
        public var prediction: String
        public var skipped: String?

        public init(index: Int, prediction: String, skipped: String? = nil) {
            self.index = index
            self.prediction = prediction
            self.skipped = skipped
        }
    }

    private struct Header: Codable { var meta: Meta }

    public let url: URL
    public let meta: Meta
    public private(set) var entries: [Int: Entry] = [:]
    /// Rows taken over from an earlier, interrupted run with the same settings.
    public private(set) var resumed = 0
    /// Set when a log was found but written under other settings (it is started afresh).
    public private(set) var discardedStale = false

    /// Opens `url`: reuses its entries when its header equals `meta` (a torn last line from a kill is dropped),
    /// otherwise starts a new file.
    public init(url: URL, meta: Meta) throws {
        self.url = url
        self.meta = meta
        if let data = try? Data(contentsOf: url) {
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            if let first = lines.first, let header = try? JSONDecoder().decode(Header.self, from: Data(first)),
                header.meta == meta
            {
                for line in lines.dropFirst() {
                    guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(line)) else { continue }
                    entries[entry.index] = entry
                }
                resumed = entries.count
            } else {
                discardedStale = true
            }
        }
        // Rewrite the file from what was kept: a clean header and complete lines only.
        var text = String(decoding: try Self.encoder.encode(Header(meta: meta)), as: UTF8.self) + "\n"
        for entry in entries.values.sorted(by: { $0.index < $1.index }) {
            text += String(decoding: try Self.encoder.encode(entry), as: UTF8.self) + "\n"
        }
        do {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw EvalError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }

    /// Appends one row and flushes it to disk before returning.
    public func record(_ entry: Entry) throws {
        entries[entry.index] = entry
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: try Self.encoder.encode(entry) + Data("\n".utf8))
            try handle.synchronize()
        } catch {
            throw EvalError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }

    public var predictions: [Int: String] { entries.mapValues(\.prediction) }
    public var skipped: [Entry] { entries.values.filter { $0.skipped != nil }.sorted { $0.index < $1.index } }

    /// Reads the predictions of a log (or of a plain `{index, prediction}` JSON-lines file, as upstream's
    /// fixture predictions) for re-scoring.
    public static func readPredictions(_ url: URL) throws -> [Int: String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EvalError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        var out: [Int: String] = [:]
        var duplicates: [Int] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).enumerated() {
            if i == 0, (try? JSONDecoder().decode(Header.self, from: Data(line))) != nil { continue }
            let lineData = Data(line)
            if let syntax = JSONSyntax.firstError(in: lineData) {
                if syntax.offset >= lineData.count { throw EvalError.truncatedLine(file: url.path, line: i + 1) }
                throw EvalError.malformedLine(
                    file: url.path, line: i + 1, column: syntax.position(in: lineData).column,
                    detail: syntax.message)
            }
            guard let object = (try? JSONSerialization.jsonObject(with: lineData)) as? [String: Any],
                let index = (object["index"] as? Int) ?? (object["index"] as? String).flatMap({ Int($0) })
            else {
                throw EvalError.invalidValue(
                    file: url.path, line: i + 1, column: "index", value: nil,
                    problem: "each line must be a JSON object with an integer \"index\"")
            }
            guard let prediction = object["prediction"] as? String else {
                throw EvalError.invalidValue(
                    file: url.path, line: i + 1, column: "prediction", value: nil,
                    problem: "missing or not a string")
            }
            if out[index] != nil { duplicates.append(index) }
            out[index] = prediction
        }
        if !duplicates.isEmpty {
            let distinct = Array(Set(duplicates)).sorted()
            throw EvalError.duplicatePredictions(
                file: url.path, count: distinct.count, indexes: Array(distinct.prefix(10)))
        }
        return out
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}
