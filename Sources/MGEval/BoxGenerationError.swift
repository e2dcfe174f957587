import Foundation
import MGData

/// Errors that stop box generation before or after the detections: bad inputs, clashing ids, files that cannot be
/// written. A bad image never throws (it becomes a `BoxGenerationFailure`). Each case names the file and, where
/// there is one, the record and id.
public enum BoxGenerationError: Error, Equatable, CustomStringConvertible {
    /// A records file (JSON or JSON lines) was given without the folder its `image` paths are relative to.
    case missingImageFolder(file: String)
    /// An image folder was given for an input that does not use one (a single image or a TSV).
    case unexpectedImageFolder(file: String, folder: String)
    /// A record is not usable: not an object, no `id`, an id that is neither a string nor an integer, or an
    /// `image` that is not a string. `record` is 0-based in a JSON list, the 1-based line in JSON lines.
    case invalidRecord(file: String, record: String, id: String?, problem: String)
    /// Two records share an id (compared as `str(id)`, as `BoxIndex` keys them) but name different images:
    /// one box record per id cannot describe both.
    case conflictingImages(file: String, id: String, first: String, firstRecord: String, second: String, record: String)
    /// Writing the log or the final box JSON failed.
    case writeFailed(file: String, detail: String)

    /// The error in words, starting with the file it concerns.
    public var description: String {
        switch self {
        case .missingImageFolder(let file):
            return "\(file): a records file needs the image folder its \"image\" paths are relative to"
        case .unexpectedImageFolder(let file, let folder):
            return "\(file): an image folder (\(folder)) applies only to a JSON or JSON-lines records file"
        case .invalidRecord(let file, let record, let id, let problem):
            let idText = id.map { " (id \"\($0)\")" } ?? ""
            return "\(file): \(record)\(idText): \(problem)"
        case .conflictingImages(let file, let id, let first, let firstRecord, let second, let record):
            return "\(file): \(record): id \"\(id)\" names image \"\(second)\", but \(firstRecord) with the same id "
                + "names \"\(first)\"; box records are keyed by id, so ids must be unique per image"
        case .writeFailed(let file, let detail):
            return "\(file): cannot write (\(detail))"
        }
    }
}
