/// Class-wise non-maximum suppression as `torchvision.ops.batched_nms` on CPU (`nms_kernel.cpp`), in float32:
/// boxes visited in descending score order; a kept box suppresses every later box of the same class whose IoU
/// with it is greater than the threshold (strictly). Areas are (x2 − x1)·(y2 − y1), no +1; IoU =
/// inter / (area_i + area_j − inter) in float32, compared with the threshold as a double (the kernel's
/// `iou_threshold` parameter is a double), so an IoU of exactly 0.2f (> 0.2) suppresses.
///
/// Two documented differences from torchvision, neither visible for integer pixel boxes:
/// - Ties in score: torchvision sorts with an unstable sort (`scores.sort(0, descending)`), so the order of equal
///   scores is unspecified there; here equal scores keep their input order.
/// - Classes: torchvision separates classes by offsetting every box by class × (max coordinate + 1) (the
///   "coordinate trick") with class numbers from Python's `set()` iteration order, which depends on
///   PYTHONHASHSEED. For boxes with negative coordinates near the maximum, the offsets can let boxes of different
///   classes overlap, and for non-integer coordinates they change float32 rounding. Here classes never interact,
///   which is `batched_nms`'s documented contract and what torchvision computes for integer boxes that don't
///   straddle the offset gap.
public enum BoxNMS {
    /// Indices of the kept boxes, in descending score order.
    public static func batched(boxes: [SIMD4<Float>], scores: [Float], classes: [Int], iouThreshold: Double) -> [Int] {
        precondition(boxes.count == scores.count && boxes.count == classes.count, "BoxNMS: mismatched inputs")
        let n = boxes.count
        // Stable descending order of score.
        let order = (0..<n).sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : a < b
        }
        let areas = boxes.map { ($0[2] - $0[0]) * ($0[3] - $0[1]) }
        var suppressed = [Bool](repeating: false, count: n)
        var keep: [Int] = []
        for (position, i) in order.enumerated() where !suppressed[i] {
            keep.append(i)
            let a = boxes[i]
            for j in order[(position + 1)...] where !suppressed[j] && classes[j] == classes[i] {
                let b = boxes[j]
                let w = max(Float(0), min(a[2], b[2]) - max(a[0], b[0]))
                let h = max(Float(0), min(a[3], b[3]) - max(a[1], b[1]))
                let inter = w * h
                let iou = inter / (areas[i] + areas[j] - inter)
                if Double(iou) > iouThreshold { suppressed[j] = true }
            }
        }
        return keep
    }
}
