import Foundation

// RoIAlign with torchvision's CPU semantics (`torchvision.ops.roi_align`, roi_align_kernel.cpp): per bin, a grid
// of bilinear samples (sampling_ratio, or ceil(roi/out) when −1), samples beyond [−1, size] contribute 0,
// `aligned` shifts by −0.5 and, when false, RoI sizes are clamped to ≥ 1. Arithmetic in Float, in the same
// order as the C++ kernel.

/// torchvision `roi_align`'s parameters: output size, spatial scale, sampling ratio, `aligned`.
public struct RoIAlignSpec: Sendable, Equatable {
    public var outputHeight: Int
    public var outputWidth: Int
    public var spatialScale: Float
    public var samplingRatio: Int
    public var aligned: Bool

    public init(outputSize: Int, spatialScale: Float, samplingRatio: Int = -1, aligned: Bool = false) {
        self.outputHeight = outputSize
        self.outputWidth = outputSize
        self.spatialScale = spatialScale
        self.samplingRatio = samplingRatio
        self.aligned = aligned
    }
}

/// A box for RoIAlign: the image it belongs to and x1, y1, x2, y2 in input-image pixels.
public struct RoIBox: Sendable, Equatable {
    public var batchIndex: Int
    public var x1, y1, x2, y2: Float
    public init(batchIndex: Int = 0, _ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) {
        self.batchIndex = batchIndex
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }
}

/// Calls `body(bin, offsets, weights)` for every bilinear sample of every bin of `box` on an H×W map:
/// `bin` = ph·outW + pw, `offsets` = the four y·W + x positions, `weights` already divided by the sample count.
@inline(__always)
func forEachRoISample(
    _ box: RoIBox, height: Int, width: Int, _ spec: RoIAlignSpec,
    _ body: (Int, (Int, Int, Int, Int), (Float, Float, Float, Float)) -> Void
) {
    let offset: Float = spec.aligned ? 0.5 : 0
    let startW = box.x1 * spec.spatialScale - offset, startH = box.y1 * spec.spatialScale - offset
    let endW = box.x2 * spec.spatialScale - offset, endH = box.y2 * spec.spatialScale - offset
    var roiW = endW - startW, roiH = endH - startH
    if !spec.aligned {
        roiW = Swift.max(roiW, 1)
        roiH = Swift.max(roiH, 1)
    }
    let binH = roiH / Float(spec.outputHeight), binW = roiW / Float(spec.outputWidth)
    let gridH = spec.samplingRatio > 0 ? spec.samplingRatio : Int((roiH / Float(spec.outputHeight)).rounded(.up))
    let gridW = spec.samplingRatio > 0 ? spec.samplingRatio : Int((roiW / Float(spec.outputWidth)).rounded(.up))
    let count = Float(Swift.max(gridH * gridW, 1))
    let h = Float(height), w = Float(width)
    for ph in 0..<spec.outputHeight {
        for pw in 0..<spec.outputWidth {
            let bin = ph * spec.outputWidth + pw
            for iy in 0..<gridH {
                let y = startH + Float(ph) * binH + (Float(iy) + 0.5) * binH / Float(gridH)
                for ix in 0..<gridW {
                    var x = startW + Float(pw) * binW + (Float(ix) + 0.5) * binW / Float(gridW)
                    if y < -1 || y > h || x < -1 || x > w { continue }
                    var yy = Swift.max(y, 0)
                    x = Swift.max(x, 0)
                    var yLow = Int(yy), xLow = Int(x)
                    let yHigh: Int, xHigh: Int
                    if yLow >= height - 1 {
                        yLow = height - 1; yHigh = yLow; yy = Float(yLow)
                    } else {
                        yHigh = yLow + 1
                    }
                    if xLow >= width - 1 { xLow = width - 1; xHigh = xLow; x = Float(xLow) } else { xHigh = xLow + 1 }
                    let ly = yy - Float(yLow), lx = x - Float(xLow)
                    let hy = 1 - ly, hx = 1 - lx
                    body(
                        bin, (yLow * width + xLow, yLow * width + xHigh, yHigh * width + xLow, yHigh * width + xHigh),
                        (hy * hx / count, hy * lx / count, ly * hx / count, ly * lx / count))
                }
            }
        }
    }
}

extension Tensor {
    /// `torchvision.ops.roi_align(self, boxes, output_size, spatial_scale, sampling_ratio, aligned)` for an
    /// [N, C, H, W] map; returns [K, C, outH, outW] in box order. Boxes with a batch index outside 0..<N are a
    /// precondition failure (validate user boxes before).
    public func roiAlign(boxes: [RoIBox], _ spec: RoIAlignSpec) -> Tensor {
        precondition(rank == 4, "roi_align: input must be [N, C, H, W], got \(shape)")
        let n = shape[0], c = shape[1], h = shape[2], w = shape[3]
        for b in boxes {
            precondition(b.batchIndex >= 0 && b.batchIndex < n, "roi_align: batch index \(b.batchIndex) of \(n)")
        }
        let bins = spec.outputHeight * spec.outputWidth
        let input = float()
        let out = Tensor.zeros([boxes.count, c, spec.outputHeight, spec.outputWidth])
        let src = input.storage.floats, dst = out.storage.floats
        Parallel.forEachChunk(boxes.count, costPerItem: c * bins * 16) { r in
            for k in r {
                let box = boxes[k]
                let plane0 = src + box.batchIndex * c * h * w
                let o = dst + k * c * bins
                forEachRoISample(box, height: h, width: w, spec) { bin, at, wt in
                    for ch in 0..<c {
                        let p = plane0 + ch * h * w
                        o[ch * bins + bin] += wt.0 * p[at.0] + wt.1 * p[at.1] + wt.2 * p[at.2] + wt.3 * p[at.3]
                    }
                }
            }
        }
        let inShape = shape
        return Tensor.record("roi_align", out, inputs: [self]) { g in
            let gx = Tensor.zeros(inShape)
            let gp = g.storage.floats, xp = gx.storage.floats
            // Boxes of one image write to the same plane: run serially (backward is not the hot path here).
            for (k, box) in boxes.enumerated() {
                let plane0 = xp + box.batchIndex * c * h * w
                let go = gp + k * c * bins
                forEachRoISample(box, height: h, width: w, spec) { bin, at, wt in
                    for ch in 0..<c {
                        let p = plane0 + ch * h * w
                        let v = go[ch * bins + bin]
                        p[at.0] += wt.0 * v; p[at.1] += wt.1 * v; p[at.2] += wt.2 * v; p[at.3] += wt.3 * v
                    }
                }
            }
            return [gx]
        }
    }

    /// For each box, the H×W weight map whose dot product with a channel plane equals the mean over all output
    /// bins of RoIAlign on that plane → [K, H·W]. MG-LLaVA averages RoIAlign's 56×56 bins, which is linear in the
    /// map, so box features become one GEMM with the map instead of K × C × 56² bilinear samples.
    public static func roiAlignMeanWeights(boxes: [RoIBox], height h: Int, width w: Int, _ spec: RoIAlignSpec) -> Tensor
    {
        let out = Tensor.zeros([boxes.count, h * w])
        let dst = out.storage.floats
        let scale = 1 / Float(spec.outputHeight * spec.outputWidth)
        Parallel.forEachChunk(boxes.count, costPerItem: spec.outputHeight * spec.outputWidth * 16) { r in
            for k in r {
                let row = dst + k * h * w
                forEachRoISample(boxes[k], height: h, width: w, spec) { _, at, wt in
                    row[at.0] += wt.0 * scale; row[at.1] += wt.1 * scale
                    row[at.2] += wt.2 * scale; row[at.3] += wt.3 * scale
                }
            }
        }
        return out
    }
}
