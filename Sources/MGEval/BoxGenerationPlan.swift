import Foundation
import MGData

/// Where one image's bytes come from.
public enum BoxImageSource: Equatable, Sendable {
    /// An image file.
    case file(URL)
    /// Base64 image text from a TSV; `name` ("file.tsv:12 index 7") names it in decoding errors.
    case base64(String, name: String)

    /// Decodes the image as PIL's `convert('RGB')` does.
    public func decode() throws -> RGBImage {
        switch self {
        case .file(let url): return try ImageDecoder.decode(contentsOf: url)
        case .base64(let text, let name): return try ImageDecoder.decode(base64: text, source: name)
        }
    }
}

/// One image to detect in, and every id whose box record it gives (records sharing an image are detected once).
public struct BoxGenerationItem: Equatable, Sendable {
    /// The ids, in input order, with their JSON type (string or integer) kept for the output.
    public var ids: [BoxRecordID]
    /// The image.
    public var image: BoxImageSource

    /// An image and the ids it serves.
    public init(ids: [BoxRecordID], image: BoxImageSource) {
        self.ids = ids
        self.image = image
    }
}

/// The work of one box generation, read and checked before any detection: the images in input order, each with
/// its ids. Ids are unique (as `str(id)`) across items, so the output loads with `BoxIndex`.
public struct BoxGenerationPlan: Equatable, Sendable {
    /// What was read.
    public let source: BoxGenerationSource
    /// The images, in order of first appearance.
    public let items: [BoxGenerationItem]
    /// Records without an image (text-only conversations), which get no box record.
    public let skippedRecords: Int

    /// A plan from items built in code.
    public init(source: BoxGenerationSource, items: [BoxGenerationItem], skippedRecords: Int = 0) {
        self.source = source
        self.items = items
        self.skippedRecords = skippedRecords
    }

    /// Every id, in output order.
    public var ids: [BoxRecordID] { items.flatMap(\.ids) }

    /// Reads the input. Throws for an unreadable or malformed file, a record whose id or image is unusable, and
    /// ids used for two different images (`BoxGenerationError.conflictingImages`); bad image bytes are left to
    /// the run, which records them per id.
    public static func load(_ source: BoxGenerationSource) throws -> BoxGenerationPlan {
        switch source {
        case .image(let url, let id):
            let name = url.deletingPathExtension().lastPathComponent
            return BoxGenerationPlan(
                source: source, items: [BoxGenerationItem(ids: [id ?? .string(name)], image: .file(url))])
        case .records(let url, let imageFolder):
            let (items, skipped) = try BoxGenerationRecords.read(url, imageFolder: imageFolder)
            return BoxGenerationPlan(source: source, items: items, skippedRecords: skipped)
        case .multipleChoice(let url):
            return BoxGenerationPlan(source: source, items: try multipleChoiceItems(url))
        }
    }

    /// The TSV through `MultipleChoiceDataset`, which checks the indexes and follows image references; rows whose
    /// resolved images are the same text (circular copies of one question) share one detection.
    private static func multipleChoiceItems(_ url: URL) throws -> [BoxGenerationItem] {
        let dataset = try MultipleChoiceDataset.load(url)
        var items: [BoxGenerationItem] = []
        var position: [String: Int] = [:]
        for row in dataset.rows {
            if let at = position[row.image] {
                items[at].ids.append(.int(row.index))
                continue
            }
            position[row.image] = items.count
            let name = "\(url.path):\(row.line) index \(row.index)"
            items.append(BoxGenerationItem(ids: [.int(row.index)], image: .base64(row.image, name: name)))
        }
        return items
    }
}
