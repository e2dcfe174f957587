import Foundation
import MGNN

// The timm ConvNeXt trunk inside an open_clip CLIP-ConvNeXt (`visual.trunk.*`), as MG-LLaVA's high-resolution
// path uses it: stem, then the four stages, each stage's output kept (stage 3 feeds the fusion; all four, resized
// to stage 0's grid and concatenated, feed RoIAlign). Frozen and forward-only: run it under `withNoGrad`.

// MARK: - Config

/// A ConvNeXt trunk's shape: blocks and channels per stage.
public struct ConvNeXtArchitecture: Sendable, Equatable {
    /// Blocks per stage.
    public var depths: [Int]
    /// Channels per stage.
    public var dims: [Int]
    public var inChannels: Int
    /// LayerNorm epsilon of timm's ConvNeXt (1e-6).
    public var layerNormEps: Float

    public init(depths: [Int], dims: [Int], inChannels: Int = 3, layerNormEps: Float = 1e-6) {
        self.depths = depths
        self.dims = dims
        self.inChannels = inChannels
        self.layerNormEps = layerNormEps
    }

    /// `convnext_large` (open_clip's `convnext_large_d_320` trunk, the one MG-LLaVA uses as CLIP-ConvNeXt-L):
    /// depths [3, 3, 27, 3], dims [192, 384, 768, 1536] — 196,227,264 parameters in the stem and stages (timm's
    /// 197,767,336 for `convnext_large` adds the ImageNet head's LayerNorm and 1536→1000 classifier).
    public static let large = ConvNeXtArchitecture(depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536])

    /// Known timm names.
    public static func named(_ name: String) -> ConvNeXtArchitecture? {
        switch name {
        case "convnext_tiny": return ConvNeXtArchitecture(depths: [3, 3, 9, 3], dims: [96, 192, 384, 768])
        case "convnext_small": return ConvNeXtArchitecture(depths: [3, 3, 27, 3], dims: [96, 192, 384, 768])
        case "convnext_base": return ConvNeXtArchitecture(depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024])
        case "convnext_large": return .large
        case "convnext_xlarge": return ConvNeXtArchitecture(depths: [3, 3, 27, 3], dims: [256, 512, 1024, 2048])
        default: return nil
        }
    }

    /// Infers depths and widths from checkpoint keys (`…stages.{s}.blocks.{b}.gamma` [C]) — the way to read a trunk
    /// whose config names no timm registry model. `prefix` is e.g. "visual.trunk.".
    public static func infer(fromShapes shapes: [String: [Int]], prefix: String) -> ConvNeXtArchitecture? {
        var depths: [Int] = [], dims: [Int] = []
        var stage = 0
        while true {
            var blocks = 0
            while shapes["\(prefix)stages.\(stage).blocks.\(blocks).gamma"] != nil { blocks += 1 }
            guard blocks > 0, let width = shapes["\(prefix)stages.\(stage).blocks.0.gamma"]?.first else { break }
            depths.append(blocks)
            dims.append(width)
            stage += 1
        }
        guard !depths.isEmpty, let stem = shapes["\(prefix)stem.0.weight"], stem.count == 4 else { return nil }
        return ConvNeXtArchitecture(depths: depths, dims: dims, inChannels: stem[1])
    }

    /// Side of the last stage's map for a square input of side `inputSize`: the 4×4 stride-4 stem, then one 2×2
    /// stride-2 downsample per later stage (floor division, as the unpadded convolutions do).
    public func finalMapSize(inputSize: Int) -> Int {
        var side = inputSize / 4
        for _ in 1..<max(dims.count, 1) { side /= 2 }
        return side
    }
}

// MARK: - Blocks

/// timm `ConvNeXtBlock` (conv_mlp = False): depthwise 7×7 → channels-last LayerNorm → Linear → GELU → Linear →
/// layer scale γ → residual.
public final class ConvNeXtBlock: Module {
    public let convDw: Conv2d
    public let norm: LayerNorm
    public let mlp: MLP
    public let gamma: Parameter

    init(dim: Int, eps: Float) {
        convDw = Conv2d(dim, dim, kernelSize: 7, padding: 3, groups: dim)
        norm = LayerNorm(dim, eps: eps)
        mlp = MLP(dim, hidden: 4 * dim, activation: .gelu)
        gamma = Parameter(Tensor.ones([dim]))
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] { [("gamma", gamma)] }
    public override var children: [(String, Module)] { [("conv_dw", convDw), ("norm", norm), ("mlp", mlp)] }

    /// [B, C, H, W] → [B, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = convDw(x).permuted([0, 2, 3, 1])  // [B, H, W, C]
        let y = mlp(norm(h)) * gamma.tensor  // layer scale on the channel (last) dim
        return x + y.permuted([0, 3, 1, 2])
    }
}

/// One stage: optional downsample (LayerNorm2d + 2×2 stride-2 conv), then its blocks.
public final class ConvNeXtStage: Module {
    public let downsampleNorm: LayerNorm2d?
    public let downsampleConv: Conv2d?
    /// timm's `downsample` Sequential of the two: keys `downsample.0` (norm), `downsample.1` (conv).
    let downsample: Sequential?
    public let blocks: ModuleList<ConvNeXtBlock>

    init(inDim: Int, outDim: Int, depth: Int, downsample: Bool, eps: Float) {
        if downsample {
            let norm = LayerNorm2d(inDim, eps: eps), conv = Conv2d(inDim, outDim, kernelSize: 2, stride: 2)
            downsampleNorm = norm
            downsampleConv = conv
            self.downsample = Sequential(norm, conv)
        } else {
            downsampleNorm = nil
            downsampleConv = nil
            self.downsample = nil
        }
        blocks = ModuleList((0..<depth).map { _ in ConvNeXtBlock(dim: outDim, eps: eps) })
        super.init()
    }

    public override var children: [(String, Module)] {
        var list: [(String, Module)] = []
        if let downsample { list.append(("downsample", downsample)) }
        list.append(("blocks", blocks))
        return list
    }

    /// [B, in, H, W] → [B, out, H/2, W/2] (or the same size without downsample).
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        if let downsample { h = downsample(h) }
        for block in blocks { h = block(h) }
        return h
    }
}

// MARK: - Model

/// The trunk with open_clip's key prefix `visual.trunk.`.
public final class ConvNeXtTrunk: Module {
    public let architecture: ConvNeXtArchitecture
    public let stemConv: Conv2d
    public let stemNorm: LayerNorm2d
    /// timm's `stem` Sequential: keys `stem.0` (4×4 stride-4 conv), `stem.1` (LayerNorm2d).
    let stem: Sequential
    public let stages: ModuleList<ConvNeXtStage>

    public static let keyPrefix = "visual.trunk."

    /// Builds the trunk with zero weights (memory is mapped lazily until the weights are loaded).
    public init(_ architecture: ConvNeXtArchitecture) {
        self.architecture = architecture
        let a = architecture
        stemConv = Conv2d(a.inChannels, a.dims[0], kernelSize: 4, stride: 4)
        stemNorm = LayerNorm2d(a.dims[0], eps: a.layerNormEps)
        stem = Sequential(stemConv, stemNorm)
        stages = ModuleList(
            (0..<a.depths.count).map { s in
                ConvNeXtStage(
                    inDim: s == 0 ? a.dims[0] : a.dims[s - 1], outDim: a.dims[s], depth: a.depths[s],
                    downsample: s > 0, eps: a.layerNormEps)
            })
        super.init()
    }

    public override var children: [(String, Module)] {
        [("visual", ModuleGroup(["trunk": ModuleGroup(["stem": stem, "stages": stages])]))]
    }

    /// Every stage's output for pixels [B, C, H, W]: stage s is [B, dims[s], H/(4·2^s), W/(4·2^s)].
    public func callAsFunction(_ pixels: Tensor) -> [Tensor] {
        precondition(
            pixels.rank == 4 && pixels.shape[1] == architecture.inChannels,
            "ConvNeXt: pixels \(pixels.shape) for a \(architecture.inChannels)-channel trunk")
        var h = stem(pixels)
        var outputs: [Tensor] = []
        for stage in stages {
            h = stage(h)
            outputs.append(h)
        }
        return outputs
    }

    /// MG-LLaVA's RoI source map: stage 0 with the later stages bilinearly resized (align_corners = False) to its
    /// grid, concatenated on channels → [B, Σ dims, H0, W0]. (2880 × 192 × 192 per 768 image for ConvNeXt-L: the
    /// box branch samples it lazily instead of building it; this is the reference.)
    public static func concatenatedStages(_ stages: [Tensor]) -> Tensor {
        let h0 = stages[0].shape[2], w0 = stages[0].shape[3]
        let resized = stages.enumerated().map { i, s in
            i == 0 ? s : s.interpolateBilinear(height: h0, width: w0, alignCorners: false)
        }
        return Tensor.concat(resized, axis: 1)
    }

    /// Keys of an open_clip checkpoint the trunk does not use (the head, the text tower, `logit_scale`).
    public static func isIgnoredKey(_ key: String) -> Bool {
        !key.hasPrefix(keyPrefix) || key.hasPrefix(keyPrefix + "head.")
    }
}
