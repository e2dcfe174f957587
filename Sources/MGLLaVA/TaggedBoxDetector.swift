import Foundation
import MGDetect

/// Upstream's whole box pipeline (`mg_llava/bbox_generation/image_offline_to_bbox.py`): RAM++ tags the image, its
/// tag string becomes the tags (`DetectionQueries.ramTags`), and a detector (OWLv2) looks for `"a photo of " + tag`
/// with the requested template and threshold. Boxes are labelled with those tags.
public final class TaggedBoxDetector: BoxDetector {
    public let tagger: RAMPlusTagger
    public let detector: any BoxDetector
    /// Called with each image's RAM++ result before detection (to report or record the tags).
    public var onTagging: ((RAMTagging, [String]) -> Void)?

    /// RAM++ in front of `detector`.
    public init(tagger: RAMPlusTagger, detector: any BoxDetector) {
        self.tagger = tagger
        self.detector = detector
    }

    public var choosesTags: Bool { true }

    /// The boxes for the tags RAM++ gives `image` (`queries.tags` is not used; its template and threshold are).
    public func detect(_ image: RGBImage, queries: DetectionQueries) throws -> [DetectedBox] {
        let tagging = tagger.tag(image)
        let tags = DetectionQueries.ramTags(tagging.tagString)
        onTagging?(tagging, tags)
        return try detector.detect(
            image, queries: DetectionQueries(tags: tags, template: queries.template, threshold: queries.threshold))
    }
}
