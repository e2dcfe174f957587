/// One box a detector found: upstream's box JSON entry for one object (`boxes[i]`, `scores[i]`, `labels[i]`).
public struct DetectedBox: Equatable, Sendable {
    /// x0, y0, x1, y1 in pixels of the original image, truncated toward zero as upstream's `.int()`.
    public var box: [Int]
    /// The detector's confidence (sigmoid of the best query logit).
    public var score: Float
    /// The tag whose query scored highest.
    public var label: String

    /// A box with its score and label.
    public init(box: [Int], score: Float, label: String) {
        self.box = box
        self.score = score
        self.label = label
    }
}

/// What to look for: tags, the text each tag becomes, and the score a box must exceed.
public struct DetectionQueries: Equatable, Sendable {
    /// The labels, in order (a box's label is one of them).
    public var tags: [String]
    /// Each tag's query text: `{}` is replaced by the tag (upstream: "a photo of {}").
    public var template: String
    /// Boxes whose score is not above this are dropped (upstream: 0.2, strict).
    public var threshold: Float

    /// Upstream's query template.
    public static let upstreamTemplate = "a photo of {}"

    /// Tags with upstream's template and threshold unless given.
    public init(tags: [String], template: String = DetectionQueries.upstreamTemplate, threshold: Float = 0.2) {
        self.tags = tags
        self.template = template
        self.threshold = threshold
    }

    /// The query text for each tag.
    public var texts: [String] { tags.map { template.replacingOccurrences(of: "{}", with: $0) } }
}

/// Finds boxes for text queries in an image (OWLv2 in `MGDetect`; tests may supply their own).
public protocol BoxDetector: AnyObject {
    /// The boxes above `queries.threshold`, in the detector's order (OWLv2: patch order).
    func detect(_ image: RGBImage, queries: DetectionQueries) throws -> [DetectedBox]
    /// True when the detector chooses each image's tags itself (RAM++ in front of OWLv2) and `queries.tags` is
    /// not used; false by default.
    var choosesTags: Bool { get }
}

extension BoxDetector {
    public var choosesTags: Bool { false }
}
