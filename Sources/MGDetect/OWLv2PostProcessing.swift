import Foundation
import MGNN

/// One kept box of `post_process_object_detection`, before labels are attached.
public struct OWLv2Detection: Equatable, Sendable {
    /// x0, y0, x1, y1 in pixels of the original image, truncated toward zero (upstream's `.int()`).
    public var box: [Int]
    /// sigmoid of the best query's logit.
    public var score: Float
    /// The query that scored best (the first one on a tie, as torch's `max`).
    public var queryIndex: Int
}

extension OWLv2Model.Outputs {
    /// transformers 4.44.2's `Owlv2ImageProcessor.post_process_object_detection(outputs, threshold,
    /// target_sizes=[[side, side]])` for the first image, followed by upstream's `boxes.int()`: per patch, the best
    /// query's logit through a sigmoid; kept when `score > threshold` (strict, in float32); cx, cy, w, h → x0, y0,
    /// x1, y1, scaled by `side` = max(width, height) of the original image (OWLv2 saw it padded bottom/right to
    /// that square, so the boxes are in original pixels). Patch order, no NMS.
    public func detections(threshold: Float, side: Int) -> [OWLv2Detection] {
        let p = logits.shape[1], q = logits.shape[2]
        guard q > 0 else { return [] }
        let scores = logits.toArray(), boxes = predBoxes.toArray()
        let scale = Float(side)
        var kept: [OWLv2Detection] = []
        for patch in 0..<p {
            var best = 0
            for j in 1..<q where scores[patch * q + j] > scores[patch * q + best] { best = j }
            let score = Float(1 / (1 + Foundation.exp(-Double(scores[patch * q + best]))))
            guard score > threshold else { continue }
            let cx = boxes[patch * 4], cy = boxes[patch * 4 + 1], w = boxes[patch * 4 + 2], h = boxes[patch * 4 + 3]
            let corners = [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h].map { truncated($0 * scale) }
            kept.append(OWLv2Detection(box: corners, score: score, queryIndex: best))
        }
        return kept
    }
}

/// torch's `.int()`: toward zero; NaN and out-of-range values (impossible after the sigmoid) clamp instead of
/// trapping.
private func truncated(_ value: Float) -> Int {
    guard value.isFinite else { return 0 }
    return Int(max(min(value, Float(Int32.max)), Float(Int32.min)).rounded(.towardZero))
}
