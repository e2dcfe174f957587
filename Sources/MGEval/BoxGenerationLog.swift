// MGEval — box generation's resumable log (`<output>.partial.jsonl`), following PredictionLog: a header with the
// settings the boxes depend on, then one line per id, appended and fsync'd as each image is done, so a killed run
// loses at most the image in flight and a rerun with the same output picks up where it stopped.
import Foundation
import MGData
import MGJSON

/// The settings a log's lines were produced under; a log written under others is started afresh.
struct BoxGenerationLogMeta: Codable, Equatable {
    var input: String
    /// The input's size: a file replaced in place under the same name is not resumed from (PredictionLog does
    /// the same with `dataset_bytes`).
    var inputBytes: Int
    var tags: [String]
    var template: String
    var threshold: Float
    var detector: String
}

/// What the log holds for one id.
enum BoxGenerationLogEntry: Equatable {
    case boxes(GeneratedBoxes)
    case failure(id: BoxRecordID, reason: String)

    var line: String {
        switch self {
        case .boxes(let record): return record.json
        case .failure(let id, let reason):
            return "{\"id\": \(BoxGenerationJSON.id(id)), \"error\": \(BoxGenerationJSON.string(reason))}"
        }
    }
}

/// The open log: entries by `str(id)` (a later line for an id replaces an earlier one: a retried failure).
final class BoxGenerationLog {
    let url: URL
    private(set) var entries: [String: BoxGenerationLogEntry] = [:]
    /// Lines that were not complete JSON (the torn last line of a killed run); their ids are redone.
    private(set) var droppedLines = 0
    /// A log was there but written under other settings.
    private(set) var discardedStale = false

    private struct Header: Codable { var meta: BoxGenerationLogMeta }

    /// Opens `url`, keeping the entries of an earlier run under the same `meta`, and rewrites it (atomically)
    /// with only complete lines, so appends never follow a torn line.
    init(url: URL, meta: BoxGenerationLogMeta) throws {
        self.url = url
        var kept: [String] = []
        if let data = try? Data(contentsOf: url) {
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            if let first = lines.first, let header = try? JSONDecoder().decode(Header.self, from: Data(first)),
                header.meta == meta
            {
                for line in lines.dropFirst() {
                    guard let entry = Self.entry(Data(line)) else {
                        droppedLines += 1
                        continue
                    }
                    let key = Self.id(of: entry).key
                    if entries.updateValue(entry, forKey: key) == nil { kept.append(key) }
                }
            } else {
                discardedStale = true
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text: String
        do {
            text = String(decoding: try encoder.encode(Header(meta: meta)), as: UTF8.self) + "\n"
        } catch {
            throw BoxGenerationError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
        for key in kept { if let entry = entries[key] { text += entry.line + "\n" } }
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw BoxGenerationError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }

    /// Appends the entries of one image and flushes them to disk before returning.
    func append(_ new: [BoxGenerationLogEntry]) throws {
        for entry in new { entries[Self.id(of: entry).key] = entry }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(new.map { $0.line + "\n" }.joined().utf8))
            try handle.synchronize()
        } catch {
            throw BoxGenerationError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }

    func remove() throws {
        do { try FileManager.default.removeItem(at: url) } catch {
            throw BoxGenerationError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }

    private static func entry(_ line: Data) -> BoxGenerationLogEntry? {
        guard let value = try? JSONValue.parse(line), let members = value.members else { return nil }
        if let reason = members.last(where: { $0.key == "error" })?.value.string {
            return BoxGenerationJSON.id(in: members).map { .failure(id: $0, reason: reason) }
        }
        return BoxGenerationJSON.record(value).map { .boxes($0) }
    }

    private static func id(of entry: BoxGenerationLogEntry) -> BoxRecordID {
        switch entry {
        case .boxes(let record): return record.id
        case .failure(let id, _): return id
        }
    }
}
