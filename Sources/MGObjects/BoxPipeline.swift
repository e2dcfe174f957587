import MGNN

/// Settings of the box pipeline; the defaults are every MG-LLaVA config's.
public struct BoxPipelineConfig: Sendable, Equatable {
    /// Side of the high-resolution input the boxes end up in (`image_size_aux`, 768).
    public var auxSize: Int
    /// NMS IoU threshold (`iou_threshold`, 0.2).
    public var iouThreshold: Double
    /// Box count above which the per-label cap applies (`limit_num`, 100). 50 is special: upstream defines no
    /// per-label cap for it (see `BoxPipeline.run`).
    public var limitNum: Int
    /// Text length limit (`max_length`, 1472); within 50 tokens of it only one box per label is kept.
    public var maxLength: Int
    /// `pad_image_to_square` (true everywhere): boxes are shifted like the pasted image.
    public var padToSquare: Bool

    public init(
        auxSize: Int = 768, iouThreshold: Double = 0.2, limitNum: Int = 100, maxLength: Int = 1472,
        padToSquare: Bool = true
    ) {
        self.auxSize = auxSize
        self.iouThreshold = iouThreshold
        self.limitNum = limitNum
        self.maxLength = maxLength
        self.padToSquare = padToSquare
    }
}

/// The boxes of one sample after the pipeline, with every intermediate (named as in the reference fixture).
public struct BoxPipelineResult: Sendable {
    /// Final boxes, xyxy in the aux frame (0…auxSize), at least one: `[0, 0, 0, 0]` when none survive.
    public var boxes: [SIMD4<Float>]
    /// Labels of `boxes`; empty when the dummy box stands in.
    public var labels: [String]

    /// Input boxes shifted by the square padding (still in the original pixel scale).
    public var boxesAfterPadding: [SIMD4<Double>]
    /// Class-wise NMS survivors in descending score order, as float32.
    public var boxesAfterNMS: [SIMD4<Float>]
    public var labelsAfterNMS: [String]
    public var scoresAfterNMS: [Float]
    /// `len(input_ids) >= max_length − 50`.
    public var closeToMaxLength: Bool
    /// Boxes kept per label when capping; nil when no box survived NMS (upstream skips the whole step).
    public var numPerCategory: Int?
    /// Whether the per-label cap was applied.
    public var capped: Bool
    public var boxesAfterLimit: [SIMD4<Float>]
    public var labelsAfterLimit: [String]
    /// float32(aux / short side of the frame), the factor the boxes are multiplied by.
    public var scale: Float
    /// round-half-even(box · scale) as integers.
    public var boxesAfterResize: [SIMD4<Int>]
    /// `int(side · (aux / short side))` in double: the resized frame, 1 px short of aux for some sizes.
    public var resizedWidth: Int
    public var resizedHeight: Int
    /// Centre-crop offsets, floor((resized − aux) / 2); −1 when the resized frame is aux − 1 (SPEC §9.11).
    public var cropStartX: Int
    public var cropStartY: Int

    /// The final boxes as a [K, 4] float32 tensor (RoIAlign's input).
    public var tensor: Tensor {
        Tensor(boxes.flatMap { [$0[0], $0[1], $0[2], $0[3]] }, shape: [boxes.count, 4])
    }
}

/// A configuration the upstream code cannot run with.
public struct BoxPipelineError: Error, Equatable, CustomStringConvertible {
    public let id: BoxRecordID
    public let message: String
    public var description: String { "box pipeline, sample \(id): \(message)" }
}

/// MG-LLaVA's box preprocessing (`MGLLaVADataset.__getitem__` and `mg_llava/dataset/utils.py`, SPEC §1.5 and
/// §4.3 step 5): padding shift → class-wise NMS → per-label cap → scale to the aux frame with round-half-even →
/// centre-crop offset, clamp, drop boxes entirely outside → dummy box if none remain.
public enum BoxPipeline {
    /// Runs the pipeline for one sample. `imageWidth`/`imageHeight` are the decoded (un-padded) image's size;
    /// `textLength` is the sample's token count (`len(input_ids)`), which decides the "close to max length" cap.
    /// Validates the record first (`BoxRecordError`).
    public static func run(
        _ record: BoxRecord, imageWidth: Int, imageHeight: Int, textLength: Int,
        config: BoxPipelineConfig = BoxPipelineConfig()
    ) throws -> BoxPipelineResult {
        precondition(imageWidth > 0 && imageHeight > 0, "BoxPipeline: image size \(imageWidth)×\(imageHeight)")
        try record.validate()

        // 1. Padding shift (`adjust_padding_boxes`), then the float32 tensors `bbox_nms` builds.
        let padded =
            config.padToSquare
            ? paddingShift(record.boxes, width: imageWidth, height: imageHeight)
            : record.boxes.map { SIMD4($0[0], $0[1], $0[2], $0[3]) }
        let frameWidth = config.padToSquare ? max(imageWidth, imageHeight) : imageWidth
        let frameHeight = config.padToSquare ? max(imageWidth, imageHeight) : imageHeight
        let boxes32 = padded.map { SIMD4<Float>(Float($0[0]), Float($0[1]), Float($0[2]), Float($0[3])) }
        let scores32 = record.scores.map { Float($0) }

        // 2. Class-wise NMS; classes are the label strings.
        var classOf: [[UInt8]: Int] = [:]
        let classes = record.labels.map { label -> Int in
            let key = labelKey(label)
            if let c = classOf[key] { return c }
            classOf[key] = classOf.count
            return classOf.count - 1
        }
        let kept = BoxNMS.batched(boxes: boxes32, scores: scores32, classes: classes, iouThreshold: config.iouThreshold)
        let nmsBoxes = kept.map { boxes32[$0] }, nmsLabels = kept.map { record.labels[$0] }
        let nmsScores = kept.map { scores32[$0] }

        // 3. Per-label cap (only looked at when something survived NMS, as upstream).
        let close = textLength >= config.maxLength - 50
        var numPerCategory: Int? = nil
        var capped = false
        var limitedBoxes = nmsBoxes, limitedLabels = nmsLabels
        if !nmsBoxes.isEmpty {
            if config.limitNum > 50 { numPerCategory = 20 } else if config.limitNum < 50 { numPerCategory = 5 }
            if close { numPerCategory = 1 }
            if nmsBoxes.count > config.limitNum || close {
                // Upstream leaves `num_per_category` unbound for limit_num == 50 and raises here.
                guard let perLabel = numPerCategory else {
                    throw BoxPipelineError(
                        id: record.id,
                        message:
                            "limit_num 50 defines no per-label cap (upstream raises UnboundLocalError); use 100 or < 50"
                    )
                }
                let order = capPerLabel(labels: nmsLabels, scores: nmsScores, perLabel: perLabel)
                limitedBoxes = order.map { nmsBoxes[$0] }
                limitedLabels = order.map { nmsLabels[$0] }
                capped = true
            }
        }

        // 4. Resize to the aux frame (`adjust_short_resize_coordinates`): float32 product, round half to even.
        let scaleDouble = Double(config.auxSize) / Double(min(frameWidth, frameHeight))
        let scale = Float(scaleDouble)
        let resized = limitedBoxes.map { box -> SIMD4<Int> in
            let r = (box * scale).rounded(.toNearestOrEven)
            return SIMD4(Int(r[0]), Int(r[1]), Int(r[2]), Int(r[3]))
        }
        let resizedHeight = Int(Double(frameHeight) * scaleDouble), resizedWidth = Int(Double(frameWidth) * scaleDouble)

        // 5. Centre crop (`adjust_center_crop_box`): shift, clamp to the frame, drop boxes entirely outside.
        let startX = floorDivide(resizedWidth - config.auxSize, 2),
            startY = floorDivide(resizedHeight - config.auxSize, 2)
        let (finalBoxes, finalLabels) = crop(
            resized, labels: limitedLabels, startX: startX, startY: startY,
            size: config.auxSize)

        return BoxPipelineResult(
            boxes: finalBoxes.isEmpty ? [SIMD4<Float>(0, 0, 0, 0)] : finalBoxes, labels: finalLabels,
            boxesAfterPadding: padded, boxesAfterNMS: nmsBoxes, labelsAfterNMS: nmsLabels, scoresAfterNMS: nmsScores,
            closeToMaxLength: close, numPerCategory: numPerCategory, capped: capped,
            boxesAfterLimit: limitedBoxes, labelsAfterLimit: limitedLabels, scale: scale, boxesAfterResize: resized,
            resizedWidth: resizedWidth, resizedHeight: resizedHeight, cropStartX: startX, cropStartY: startY)
    }

    /// `adjust_padding_boxes`: the image is pasted at (0, (W − H)//2) when W > H, at ((H − W)//2, 0) when H > W.
    public static func paddingShift(_ boxes: [[Double]], width: Int, height: Int) -> [SIMD4<Double>] {
        let dx = height > width ? Double((height - width) / 2) : 0
        let dy = width > height ? Double((width - height) / 2) : 0
        return boxes.map { SIMD4($0[0] + dx, $0[1] + dy, $0[2] + dx, $0[3] + dy) }
    }

    /// Per-label cap: labels in order of first appearance; within a label, its `perLabel` highest scores in
    /// descending order (`topk`); labels with at most `perLabel` boxes keep their order. Returns indices.
    /// Equal scores keep their order (torch's `topk` leaves it unspecified).
    public static func capPerLabel(labels: [String], scores: [Float], perLabel: Int) -> [Int] {
        var groups: [[Int]] = []
        var groupOf: [[UInt8]: Int] = [:]
        for (i, label) in labels.enumerated() {
            let key = labelKey(label)
            if let g = groupOf[key] {
                groups[g].append(i)
            } else {
                groupOf[key] = groups.count
                groups.append([i])
            }
        }
        return groups.flatMap { members -> [Int] in
            guard members.count > perLabel else { return members }
            let ranked = members.enumerated().sorted { a, b in
                scores[a.element] != scores[b.element] ? scores[a.element] > scores[b.element] : a.offset < b.offset
            }
            return ranked.prefix(perLabel).map(\.element)
        }
    }

    /// `adjust_center_crop_box`: subtract the crop start, clamp x1, y1 ≥ 0 and x2, y2 ≤ size, drop a box when
    /// x2 < 0, y2 < 0, x1 > size or y1 > size after clamping (i.e. entirely outside; touching an edge is kept).
    public static func crop(
        _ boxes: [SIMD4<Int>], labels: [String], startX: Int, startY: Int,
        size: Int
    ) -> (boxes: [SIMD4<Float>], labels: [String]) {
        var outBoxes: [SIMD4<Float>] = [], outLabels: [String] = []
        for (box, label) in zip(boxes, labels) {
            let x1 = max(box[0] - startX, 0), y1 = max(box[1] - startY, 0)
            let x2 = min(box[2] - startX, size), y2 = min(box[3] - startY, size)
            if x2 < 0 || y2 < 0 || x1 > size || y1 > size { continue }
            outBoxes.append(SIMD4(Float(x1), Float(y1), Float(x2), Float(y2)))
            outLabels.append(label)
        }
        return (outBoxes, outLabels)
    }
}

/// Labels compare as Python strings do, by code points: Swift's `==` would also equate canonically equivalent
/// spellings (precomposed and decomposed accents), which Python keeps apart.
@inline(__always)
private func labelKey(_ label: String) -> [UInt8] { Array(label.utf8) }

/// Python's `//` for ints (rounds toward −∞).
@inline(__always)
func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}
