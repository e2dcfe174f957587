import Foundation
import MGData

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The library behind `mgllava boxes`: detects objects in every image of a `BoxGenerationPlan` and writes
/// upstream's box JSON (a list of `{"id", "boxes", "scores", "labels"}`, loadable with `BoxIndex.load`).
///
/// Each image's records are appended to `<output>.partial.jsonl` and fsync'd as soon as they exist. A rerun with
/// the same output, input, queries and `detectorName` resumes from that log: logged ids are not detected again,
/// and a torn last line from a crash is dropped and redone. Failed ids (missing or undecodable image, zero size,
/// detector error) are logged too and, by default, kept as failures on a rerun; `retryFailures` redoes them.
/// When every image has been tried the box JSON is written atomically (a temporary file, fsync'd, then renamed
/// over `output`), leaving out failed ids; the log is then removed, unless failures remain, in which case it is
/// kept so that a rerun with `retryFailures` redoes only those. A log written under other settings is discarded.
public struct BoxGenerationRun {
    /// The images and ids.
    public let plan: BoxGenerationPlan
    /// The box JSON to write.
    public let output: URL
    /// What to detect.
    public let queries: DetectionQueries
    /// Names the detector (e.g. its checkpoint path) in the log's header, so a log from another model is not
    /// resumed.
    public let detectorName: String
    /// Whether ids logged as failures by an earlier run are detected again.
    public let retryFailures: Bool

    /// A run of `plan` into `output`.
    public init(
        plan: BoxGenerationPlan, output: URL, queries: DetectionQueries, detectorName: String = "",
        retryFailures: Bool = false
    ) {
        self.plan = plan
        self.output = output
        self.queries = queries
        self.detectorName = detectorName
        self.retryFailures = retryFailures
    }

    /// The resumable log of a run writing `output`: `<output>.partial.jsonl`.
    public static func logURL(for output: URL) -> URL {
        URL(fileURLWithPath: output.path + ".partial.jsonl")
    }

    /// Runs the detector on every image not already logged. `progress` is called after each image; `shouldStop`
    /// before each, and returning true ends the run with the log kept and no final file (`completed` false).
    /// Throws only when the log or the output cannot be written.
    public func run(
        detector: BoxDetector, progress: (BoxGenerationProgress) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) throws -> BoxGenerationSummary {
        do {
            try FileManager.default.createDirectory(
                at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw BoxGenerationError.writeFailed(file: output.path, detail: DataError.plainReason(error))
        }
        let meta = BoxGenerationLogMeta(
            input: plan.source.file.standardizedFileURL.path,
            inputBytes: ((try? FileManager.default.attributesOfItem(atPath: plan.source.file.path))?[.size]
                as? NSNumber)?.intValue ?? -1,
            tags: queries.tags, template: queries.template,
            threshold: queries.threshold, detector: detectorName)
        let log = try BoxGenerationLog(url: Self.logURL(for: output), meta: meta)

        let pending = plan.items.map { item in item.ids.filter { needsDetection(log.entries[$0.key]) } }
        let resumedImages = pending.filter(\.isEmpty).count
        let resumedIDs = plan.ids.count - pending.reduce(0) { $0 + $1.count }
        let start = Date()
        var done = resumedImages, detected = 0, completed = true
        for (item, ids) in zip(plan.items, pending) where !ids.isEmpty {
            if shouldStop() {
                completed = false
                break
            }
            try log.append(detect(item, ids: ids, detector: detector))
            detected += 1
            done += 1
            progress(
                BoxGenerationProgress(
                    done: done, total: plan.items.count, resumed: resumedImages,
                    elapsed: Date().timeIntervalSince(start), ids: ids))
        }

        var records: [GeneratedBoxes] = [], failures: [BoxGenerationFailure] = []
        for id in plan.ids {
            switch log.entries[id.key] {
            case .boxes(var record)?:
                record.id = id  // the input's JSON type, whatever the log held
                records.append(record)
            case .failure(_, let reason)?: failures.append(BoxGenerationFailure(id: id, reason: reason))
            case nil: break
            }
        }
        var logLeft: URL? = log.url
        if completed {
            try writeAtomically(BoxGenerationJSON.file(records))
            if failures.isEmpty {
                try log.remove()
                logLeft = nil
            }
        }
        return BoxGenerationSummary(
            images: plan.items.count, ids: plan.ids.count, detected: detected, resumedIDs: resumedIDs,
            boxes: records.reduce(0) { $0 + $1.boxes.count }, failures: failures,
            skippedRecords: plan.skippedRecords, completed: completed, output: completed ? output : nil,
            log: logLeft, droppedLogLines: log.droppedLines, discardedStaleLog: log.discardedStale)
    }

    private func needsDetection(_ entry: BoxGenerationLogEntry?) -> Bool {
        switch entry {
        case nil: return true
        case .failure?: return retryFailures
        case .boxes?: return false
        }
    }

    /// One image: every id gets the same detections, or the same failure.
    private func detect(
        _ item: BoxGenerationItem, ids: [BoxRecordID], detector: BoxDetector
    )
        -> [BoxGenerationLogEntry]
    {
        let image: RGBImage
        do {
            image = try item.image.decode()
        } catch {
            return ids.map { .failure(id: $0, reason: "\(error)") }
        }
        guard image.width > 0, image.height > 0 else {
            return ids.map { .failure(id: $0, reason: "\(name(of: item)): zero-size image") }
        }
        do {
            let detections = try detector.detect(image, queries: queries)
            return try ids.map { .boxes(try GeneratedBoxes(id: $0, detections: detections)) }
        } catch {
            return ids.map { .failure(id: $0, reason: "\(name(of: item)): detection failed: \(error)") }
        }
    }

    private func name(of item: BoxGenerationItem) -> String {
        switch item.image {
        case .file(let url): return url.path
        case .base64(_, let name): return name
        }
    }

    /// Temporary file beside `output`, fsync'd, then renamed over it: readers see the old file or the whole new
    /// one, never a part.
    private func writeAtomically(_ text: String) throws {
        let temporary = URL(fileURLWithPath: output.path + ".tmp")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw BoxGenerationError.writeFailed(file: temporary.path, detail: DataError.plainReason(error))
        }
        guard rename(temporary.path, output.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw BoxGenerationError.writeFailed(file: output.path, detail: reason)
        }
    }
}
