import MGDetect

extension OWLv2Detector: BoxDetector {
    /// OWLv2 on the queries' texts; each box labelled with the tag of its best query.
    public func detect(_ image: RGBImage, queries: DetectionQueries) throws -> [DetectedBox] {
        let found = try detect(
            rgb: image.pixels, width: image.width, height: image.height, queries: queries.texts,
            threshold: queries.threshold)
        return found.map { DetectedBox(box: $0.box, score: $0.score, label: queries.tags[$0.queryIndex]) }
    }
}

extension BoxRecord {
    /// Upstream's box JSON entry for detections: integer boxes, scores, labels.
    public init(id: BoxRecordID, detections: [DetectedBox]) {
        self.init(
            id: id, boxes: detections.map { $0.box.map(Double.init) }, labels: detections.map(\.label),
            scores: detections.map { Double($0.score) })
    }
}
