import Foundation

/// What an earlier run left in a work dir (checkpoints, `latest`, metrics, loss curve), and setting it aside
/// for `train --overwrite`: the files are moved (renamed, nothing copied) into a hidden folder of the work dir,
/// and that folder is deleted only once the new run has saved its first checkpoint, so a new run that fails
/// early loses nothing.
public struct EarlierRun {
    public let workDir: URL
    /// The work dir's entries that belong to the run.
    public let entries: [String]
    /// Its latest complete checkpoint's iteration, if any.
    public let latestIteration: Int?

    /// Prefix of the folders `setAside` creates.
    public static let asidePrefix = ".overwritten-"

    /// The earlier run in `workDir`, nil when there is none.
    public static func find(in workDir: URL) -> EarlierRun? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workDir.path)) ?? []
        let runFiles: Set<String> = [Trainer.latestFile, "metrics.jsonl", "loss_curve.svg"]
        // Checkpoint folders, complete or torn (`.iter_N.tmp-…` temp folders of a killed writer), and the run files.
        let entries = names.filter {
            runFiles.contains($0) || $0.hasPrefix(Trainer.folderPrefix) || $0.hasPrefix("." + Trainer.folderPrefix)
        }.sorted()
        guard !entries.isEmpty else { return nil }
        return EarlierRun(
            workDir: workDir, entries: entries,
            latestIteration: Trainer.checkpoints(in: workDir).last?.iteration)
    }

    /// Moves the run's entries into a new hidden folder inside the work dir and returns that folder.
    public func setAside() throws -> URL {
        let fm = FileManager.default
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let aside = workDir.appendingPathComponent(
            "\(Self.asidePrefix)\(stamp)-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try fm.createDirectory(at: aside, withIntermediateDirectories: false)
            for name in entries {
                try fm.moveItem(at: workDir.appendingPathComponent(name), to: aside.appendingPathComponent(name))
            }
        } catch {
            throw TrainerError.invalidConfiguration(
                "cannot move the earlier run in \(workDir.path) aside into "
                    + "\(aside.path): \(DataError.plainReason(error)); nothing was deleted")
        }
        return aside
    }
}
