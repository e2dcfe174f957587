import Foundation
import MGData

/// What `mgllava boxes` detects objects in: one image, a LLaVA records file with its image folder, or a
/// multiple-choice TSV whose images are stored in the file.
public enum BoxGenerationSource: Equatable, Sendable {
    /// One image file; its box record gets `id`, or the file name without its extension when nil.
    case image(URL, id: BoxRecordID?)
    /// A LLaVA JSON list or JSON-lines file of records with an `image` path relative to `imageFolder`.
    case records(URL, imageFolder: URL)
    /// A multiple-choice TSV (MMBench style): ids are the `index` column, images base64 in the `image` column.
    case multipleChoice(URL)

    /// The input file.
    public var file: URL {
        switch self {
        case .image(let url, _), .records(let url, _), .multipleChoice(let url): return url
        }
    }

    /// Picks the kind from the extension as the other readers do: `.tsv` is a multiple-choice table, `.json` and
    /// `.jsonl` are records (JSON list or JSON lines is then told by content, see `BoxGenerationPlan`), anything
    /// else is an image (its format is told by its bytes when decoded). Throws when a records file comes without
    /// `imageFolder`, or another input with one, since the folder would silently mean nothing.
    public static func detect(
        _ file: URL, imageFolder: URL? = nil, id: BoxRecordID? = nil
    ) throws
        -> BoxGenerationSource
    {
        switch file.pathExtension.lowercased() {
        case "tsv":
            if let imageFolder {
                throw BoxGenerationError.unexpectedImageFolder(file: file.path, folder: imageFolder.path)
            }
            return .multipleChoice(file)
        case "json", "jsonl":
            guard let imageFolder else { throw BoxGenerationError.missingImageFolder(file: file.path) }
            return .records(file, imageFolder: imageFolder)
        default:
            if let imageFolder {
                throw BoxGenerationError.unexpectedImageFolder(file: file.path, folder: imageFolder.path)
            }
            return .image(file, id: id)
        }
    }
}
