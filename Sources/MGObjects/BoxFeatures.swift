import Foundation
import MGNN

/// MG-LLaVA's object features (SPEC §1.5): RoIAlign (56 × 56 bins, scale = stage-0 size / aux size, adaptive
/// sampling, aligned = false) over the four ConvNeXt stage maps resized to stage 0's grid and concatenated, then
/// the mean over the bins → one vector of Σ channels per box.
///
/// The concatenated map is 2880 × 192 × 192 floats (425 MB) per 768 image, so it is never built. RoIAlign's mean
/// over bins is linear in the map: per box it is a weight map on the stage-0 grid (`roiAlignMeanWeights`); the
/// resize to that grid is linear too, so its adjoint carries the weight map back onto each stage's own grid. Each
/// stage then contributes one GEMM: [K, Hs·Ws] × [Hs·Ws, Cs].
public struct BoxFeatureExtractor: Sendable {
    public var outputSize: Int
    public var samplingRatio: Int
    public var aligned: Bool

    /// Upstream's settings: 56 × 56, adaptive sampling, legacy (unaligned) boxes.
    public init(outputSize: Int = 56, samplingRatio: Int = -1, aligned: Bool = false) {
        self.outputSize = outputSize
        self.samplingRatio = samplingRatio
        self.aligned = aligned
    }

    /// stages: one image's stage maps, each [1, Cs, Hs, Ws] (stage 0 the finest); boxes: x1, y1, x2, y2 in the
    /// aux-image frame (`auxSize` pixels square). Returns [K, Σ Cs]. Forward only (the towers are frozen).
    public func callAsFunction(stages: [Tensor], boxes: [RoIBox], auxSize: Int) -> Tensor {
        precondition(
            !stages.isEmpty && stages.allSatisfy { $0.rank == 4 && $0.shape[0] == 1 },
            "box features: stage maps must be [1, C, H, W], got \(stages.map { $0.shape })")
        let h0 = stages[0].shape[2], w0 = stages[0].shape[3]
        // Upstream writes map_size / 768; the general form is map_size / aux size (equal at 768).
        let spec = RoIAlignSpec(
            outputSize: outputSize, spatialScale: Float(h0) / Float(auxSize),
            samplingRatio: samplingRatio, aligned: aligned)
        let k = boxes.count
        return withNoGrad {
            let weights0 = Tensor.roiAlignMeanWeights(boxes: boxes, height: h0, width: w0, spec)  // [K, H0·W0]
            var parts: [Tensor] = []
            for (s, stage) in stages.enumerated() {
                let c = stage.shape[1], hs = stage.shape[2], ws = stage.shape[3]
                let weights =
                    s == 0 && hs == h0 && ws == w0
                    ? weights0
                    : Tensor.bilinearAdjoint(
                        weights0.reshaped([k, 1, h0, w0]), height: hs, width: ws,
                        alignCorners: false
                    ).reshaped([k, hs * ws])
                parts.append(weights.matmul(stage.reshaped([c, hs * ws]), transposeB: true))  // [K, Cs]
            }
            return Tensor.concat(parts, axis: 1)
        }
    }

    /// The same result computed the direct way — resize, concatenate, RoIAlign, mean — for tests and for
    /// checking the lazy path on new shapes. Costs the full concatenated map.
    public func materialized(stages: [Tensor], boxes: [RoIBox], auxSize: Int) -> Tensor {
        let h0 = stages[0].shape[2], w0 = stages[0].shape[3]
        let spec = RoIAlignSpec(
            outputSize: outputSize, spatialScale: Float(h0) / Float(auxSize),
            samplingRatio: samplingRatio, aligned: aligned)
        return withNoGrad {
            let resized = stages.enumerated().map { i, s in
                i == 0 ? s : s.interpolateBilinear(height: h0, width: w0, alignCorners: false)
            }
            return Tensor.concat(resized, axis: 1).roiAlign(boxes: boxes, spec).mean(axes: [2, 3])
        }
    }
}
