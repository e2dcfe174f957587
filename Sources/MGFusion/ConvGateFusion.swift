import Foundation
import MGNN

/// MG-LLaVA's Conv-Gate fusion (`DualPathFuseModule`, keys `fuse_module.*`; SPEC §1.3).
///
/// The low-resolution CLIP tokens get a residual depthwise-conv branch; the high-resolution ConvNeXt stage-3 map
/// goes through two 1×1 convs; a gate — ONE tanh scalar per image, from an MLP on the token-mean of both — scales
/// how much of the high-resolution branch is added. Both output projections start at zero, so a freshly
/// initialised module is the identity on the CLIP tokens.
public final class ConvGateFusion: Module {
    public let slowConv: Conv2d   // 1×1, high → high
    public let slowProj: Conv2d   // 1×1, high → low (zero-initialised)
    public let fastConv: Conv2d   // 7×7 depthwise on low, padding 3
    public let fastProj: Conv2d   // 1×1, low → low (zero-initialised)
    public let gate: Sequential   // Linear(2·low → low/2) → GELU → Linear(low/2 → 1)
    public let lowResDim: Int
    public let highResDim: Int

    /// Upstream's initialisation: xavier-uniform convs with zero biases, zero output projections, PyTorch-default
    /// gate linears.
    public init(lowResDim: Int, highResDim: Int, generator: inout Generator) {
        self.lowResDim = lowResDim
        self.highResDim = highResDim
        func xavier(_ shape: [Int]) -> Tensor {
            let receptive = shape[2] * shape[3]
            let fanIn = shape[1] * receptive, fanOut = shape[0] * receptive
            let bound = (6 / Float(fanIn + fanOut)).squareRoot()
            return Tensor.rand(shape, low: -bound, high: bound, generator: &generator)
        }
        slowConv = Conv2d(weight: xavier([highResDim, highResDim, 1, 1]), bias: Tensor.zeros([highResDim]),
                          stride: (1, 1), padding: (0, 0), groups: 1)
        slowProj = Conv2d(weight: Tensor.zeros([lowResDim, highResDim, 1, 1]), bias: Tensor.zeros([lowResDim]),
                          stride: (1, 1), padding: (0, 0), groups: 1)
        fastConv = Conv2d(weight: xavier([lowResDim, 1, 7, 7]), bias: Tensor.zeros([lowResDim]),
                          stride: (1, 1), padding: (3, 3), groups: lowResDim)
        fastProj = Conv2d(weight: Tensor.zeros([lowResDim, lowResDim, 1, 1]), bias: Tensor.zeros([lowResDim]),
                          stride: (1, 1), padding: (0, 0), groups: 1)
        gate = Sequential(Linear(2 * lowResDim, lowResDim / 2, generator: &generator), ActivationLayer(.gelu),
                          Linear(lowResDim / 2, 1, generator: &generator))
        super.init()
    }

    /// Zero weights of the right shapes, to be overwritten by a checkpoint (no random initialisation work).
    public init(lowResDim: Int, highResDim: Int) {
        self.lowResDim = lowResDim
        self.highResDim = highResDim
        func conv(_ shape: [Int], padding: Int = 0, groups: Int = 1) -> Conv2d {
            Conv2d(weight: Tensor.zeros(shape), bias: Tensor.zeros([shape[0]]), stride: (1, 1),
                   padding: (padding, padding), groups: groups)
        }
        slowConv = conv([highResDim, highResDim, 1, 1])
        slowProj = conv([lowResDim, highResDim, 1, 1])
        fastConv = conv([lowResDim, 1, 7, 7], padding: 3, groups: lowResDim)
        fastProj = conv([lowResDim, lowResDim, 1, 1])
        gate = Sequential(Linear(weight: Tensor.zeros([lowResDim / 2, 2 * lowResDim]), bias: Tensor.zeros([lowResDim / 2])),
                          ActivationLayer(.gelu),
                          Linear(weight: Tensor.zeros([1, lowResDim / 2]), bias: Tensor.zeros([1])))
        super.init()
    }

    public override var children: [(String, Module)] {
        [("slow_conv", slowConv), ("slow_proj", slowProj), ("fast_conv", fastConv), ("fast_proj", fastProj),
         ("gate", gate)]
    }

    /// low: CLIP tokens [B, N, low] (N = g² on a g×g grid); high: ConvNeXt stage 3 [B, high, g, g] → [B, N, low].
    public func callAsFunction(low: Tensor, high: Tensor) -> Tensor {
        let b = low.shape[0], n = low.shape[1]
        let g = high.shape[2]
        precondition(low.rank == 3 && low.shape[2] == lowResDim, "fusion: low-res tokens \(low.shape), expected [B, N, \(lowResDim)]")
        precondition(high.rank == 4 && high.shape[0] == b && high.shape[1] == highResDim && g * high.shape[3] == n,
                     "fusion: high-res map \(high.shape) does not match \(n) low-res tokens of width \(lowResDim)")
        // High-resolution branch → tokens [B, N, low].
        let h = slowProj(slowConv(high).gelu()).reshaped([b, lowResDim, n]).transposed(1, 2)
        // Low-resolution branch: tokens as a [B, low, g, g] map, residual depthwise conv.
        let lmap = low.transposed(1, 2).reshaped([b, lowResDim, g, high.shape[3]])
        let lfused = lmap + fastProj(fastConv(lmap).gelu())
        let l = lfused.reshaped([b, lowResDim, n]).transposed(1, 2)
        // One gate value per image from the token-mean of [l, h].
        let pooled = Tensor.concat([l, h], axis: 2).mean(axis: 1)      // [B, 2·low]
        let scale = gate(pooled).tanh().reshaped([b, 1, 1])            // [B, 1, 1]
        return l + h * scale
    }
}
