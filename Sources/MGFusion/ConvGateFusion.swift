import Foundation
import MGNN

/// MG-LLaVA's Conv-Gate fusion (`DualPathFuseModule`, keys `fuse_module.*`; SPEC §1.3).
///
/// The low-resolution CLIP tokens get a residual depthwise-conv branch; the high-resolution ConvNeXt stage-3 map
/// goes through two 1×1 convs; a gate — ONE tanh scalar per image, from an MLP on the token-mean of both — scales
/// how much of the high-resolution branch is added. Both output projections start at zero, so a freshly
/// initialised module is the identity on the CLIP tokens.
public final class ConvGateFusion: Module {
    public let slowConv: Conv2d  // 1×1, high → high
    public let slowProj: Conv2d  // 1×1, high → low (zero-initialised)
    public let fastConv: Conv2d  // 7×7 depthwise on low, padding 3
    public let fastProj: Conv2d  // 1×1, low → low (zero-initialised)
    public let gate: Sequential  // Linear(2·low → low/2) → GELU → Linear(low/2 → 1)
    public let lowResDim: Int
    public let highResDim: Int

    /// Zero weights of the right shapes: a checkpoint overwrites them, or `initialize(generator:)` applies upstream's
    /// initialisation (no random numbers are drawn until then; untouched memory stays unmapped).
    public init(lowResDim: Int, highResDim: Int) {
        self.lowResDim = lowResDim
        self.highResDim = highResDim
        slowConv = Conv2d(highResDim, highResDim, kernelSize: 1)
        slowProj = Conv2d(highResDim, lowResDim, kernelSize: 1)
        fastConv = Conv2d(lowResDim, lowResDim, kernelSize: 7, padding: 3, groups: lowResDim)
        fastProj = Conv2d(lowResDim, lowResDim, kernelSize: 1)
        gate = Sequential(Linear(2 * lowResDim, lowResDim / 2), ActivationLayer(.gelu), Linear(lowResDim / 2, 1))
        super.init()
    }

    /// Upstream's initialisation: xavier-uniform convs with zero biases, zero output projections (so the module
    /// starts as the identity on the CLIP tokens), PyTorch-default gate linears. Draws slow_conv, fast_conv, then
    /// the two gate linears from `generator`.
    public func initialize(generator: inout Generator) {
        func xavier(_ conv: Conv2d) {
            let shape = conv.weight.shape
            let receptive = shape[2] * shape[3]
            let fanIn = shape[1] * receptive, fanOut = shape[0] * receptive
            let bound = (6 / Float(fanIn + fanOut)).squareRoot()
            conv.weight.value = Tensor.rand(shape, low: -bound, high: bound, generator: &generator)
        }
        xavier(slowConv)
        xavier(fastConv)
        for conv in [slowProj, fastProj] { conv.weight.value = Tensor.zeros(conv.weight.shape) }
        for conv in [slowConv, slowProj, fastConv, fastProj] {
            if let bias = conv.bias { bias.value = Tensor.zeros(bias.shape) }
        }
        for case let linear as Linear in gate.layers { linear.initialize(generator: &generator) }
    }

    public override var children: [(String, Module)] {
        [
            ("slow_conv", slowConv), ("slow_proj", slowProj), ("fast_conv", fastConv), ("fast_proj", fastProj),
            ("gate", gate)
        ]
    }

    /// low: CLIP tokens [B, N, low] (N = g² on a g×g grid); high: ConvNeXt stage 3 [B, high, g, g] → [B, N, low].
    public func callAsFunction(low: Tensor, high: Tensor) -> Tensor {
        let b = low.shape[0], n = low.shape[1]
        let g = high.shape[2]
        precondition(
            low.rank == 3 && low.shape[2] == lowResDim,
            "fusion: low-res tokens \(low.shape), expected [B, N, \(lowResDim)]")
        precondition(
            high.rank == 4 && high.shape[0] == b && high.shape[1] == highResDim && g * high.shape[3] == n,
            "fusion: high-res map \(high.shape) does not match \(n) low-res tokens of width \(lowResDim)")
        // High-resolution branch → tokens [B, N, low].
        let h = slowProj(slowConv(high).gelu()).reshaped([b, lowResDim, n]).transposed(1, 2)
        // Low-resolution branch: tokens as a [B, low, g, g] map, residual depthwise conv.
        let lmap = low.transposed(1, 2).reshaped([b, lowResDim, g, high.shape[3]])
        let lfused = lmap + fastProj(fastConv(lmap).gelu())
        let l = lfused.reshaped([b, lowResDim, n]).transposed(1, 2)
        // One gate value per image from the token-mean of [l, h].
        let pooled = Tensor.concat([l, h], axis: 2).mean(axis: 1)  // [B, 2·low]
        let scale = gate(pooled).tanh().reshaped([b, 1, 1])  // [B, 1, 1]
        return l + h * scale
    }
}
