import Foundation
import MGNN

// recognize-anything's `SwinTransformer` (ram/models/swin_transformer.py, Swin v1), inference only, under its
// checkpoint keys:
//   patch_embed.{proj, norm}
//   layers.{i}.blocks.{j}.{norm1, attn.{relative_position_bias_table, relative_position_index, qkv, proj}, norm2,
//                          mlp.{fc1, fc2}, attn_mask (shifted blocks only)}
//   layers.{i}.downsample.{reduction, norm}  (every stage but the last)
//   norm
// The output is [B, 1 + L, C]: the average of the final tokens first (`avgpool`), then the L = (side/32)² tokens.
// Tokens are kept row-major ([B, H·W, C], index y·W + x), as upstream's `view(B, H, W, C)`.

/// One shifted-window attention block's geometry: which tokens form each window (after the cyclic shift), the
/// relative-position index and the shift mask — all fixed by the grid side, window and shift.
struct SwinWindowLayout {
    let side: Int
    let window: Int
    let shift: Int
    /// Token order of the windows: windows in row-major order, each window's tokens row-major, taken from the grid
    /// rolled by −shift on both axes (`torch.roll` + `window_partition`), [side²].
    let order: [Int]
    /// The inverse permutation (`window_reverse` + the roll back).
    let inverse: [Int]

    init(side: Int, window: Int, shift: Int) {
        self.side = side
        self.window = window
        self.shift = shift
        let perSide = side / window
        var order = [Int]()
        order.reserveCapacity(side * side)
        for wy in 0..<perSide {
            for wx in 0..<perSide {
                for y in 0..<window {
                    for x in 0..<window {
                        // rolled[r] = original[(r + shift) mod side]
                        let sy = (wy * window + y + shift) % side, sx = (wx * window + x + shift) % side
                        order.append(sy * side + sx)
                    }
                }
            }
        }
        var inverse = [Int](repeating: 0, count: order.count)
        for (position, token) in order.enumerated() { inverse[token] = position }
        self.order = order
        self.inverse = inverse
    }

    var windowCount: Int { (side / window) * (side / window) }
    var tokensPerWindow: Int { window * window }

    /// `relative_position_index` [N, N] (N = window²): (Δy + w − 1)·(2w − 1) + (Δx + w − 1).
    static func relativePositionIndex(window w: Int) -> [Int] {
        let n = w * w
        var index = [Int](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let dy = i / w - j / w, dx = i % w - j % w
                index[i * n + j] = (dy + w - 1) * (2 * w - 1) + (dx + w - 1)
            }
        }
        return index
    }

    /// The shifted block's `attn_mask` [nW, N, N]: 0 where two tokens of a window came from the same region of
    /// the rolled grid, −100 where the roll brought together tokens from different regions (upstream's slices
    /// [0, side − w), [side − w, side − shift), [side − shift, side) on each axis).
    func shiftMask() -> [Float] {
        func region(_ r: Int) -> Int { r < side - window ? 0 : (r < side - shift ? 1 : 2) }
        let n = tokensPerWindow, perSide = side / window
        var mask = [Float](repeating: 0, count: windowCount * n * n)
        for win in 0..<windowCount {
            let wy = win / perSide, wx = win % perSide
            var label = [Int](repeating: 0, count: n)
            for t in 0..<n { label[t] = region(wy * window + t / window) * 3 + region(wx * window + t % window) }
            for i in 0..<n {
                for j in 0..<n where label[i] != label[j] { mask[(win * n + i) * n + j] = -100 }
            }
        }
        return mask
    }
}

/// `attn`: window multi-head self-attention with a learned relative-position bias per head.
public final class SwinWindowAttention: Module {
    public let qkv: Linear
    public let proj: Linear
    /// [(2w − 1)², heads]
    public let relativePositionBiasTable: Parameter
    /// [N, N] int64 — checked against the computed index when loaded, never used as read.
    public let relativePositionIndex: Buffer
    let heads: Int
    let window: Int
    /// The computed `relative_position_index`, [N·N] (what the forward pass gathers the bias table with).
    let index: [Int]

    init(dim: Int, heads: Int, window: Int) {
        qkv = Linear(dim, 3 * dim)
        proj = Linear(dim, dim)
        relativePositionBiasTable = Parameter(Tensor.zeros([(2 * window - 1) * (2 * window - 1), heads]))
        let n = window * window
        index = SwinWindowLayout.relativePositionIndex(window: window)
        relativePositionIndex = Buffer(Tensor(int64: index, shape: [n, n]))
        self.heads = heads
        self.window = window
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] {
        [("relative_position_bias_table", relativePositionBiasTable)]
    }
    public override var ownBuffers: [(String, Buffer)] { [("relative_position_index", relativePositionIndex)] }
    public override var children: [(String, Module)] { [("qkv", qkv), ("proj", proj)] }

    /// The bias added to every window's scores, [heads, N, N].
    func relativePositionBias() -> Tensor {
        let n = window * window
        let table = relativePositionBiasTable.tensor.float().toArray()  // [(2w−1)², heads]
        var bias = [Float](repeating: 0, count: heads * n * n)
        for h in 0..<heads {
            for p in 0..<(n * n) { bias[h * n * n + p] = table[index[p] * heads + h] }
        }
        return Tensor(bias, shape: [heads, n, n])
    }

    /// Windows [B·nW, N, C] (batch-major) → [B·nW, N, C]; `mask` [nW, N, N] for shifted blocks.
    func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let bw = x.shape[0], n = x.shape[1], c = x.shape[2]
        let windows = mask?.shape[0] ?? bw
        if bw > windows {
            // The shift mask repeats per image: attend image by image.
            return Tensor.concat(
                stride(from: 0, to: bw, by: windows).map { self(x.slice(axis: 0, $0, $0 + windows), mask: mask) },
                axis: 0)
        }
        // softmax(q·kᵀ/√d + bias[h] + mask[window]) per window and head, on the projection's own layout.
        let qkv = self.qkv(x)  // [B·nW, N, 3C]: q, k, v side by side, heads within each
        var biases = [relativePositionBias().unsqueezed(0)]  // [1, H, N, N]
        if let mask { biases.append(mask.unsqueezed(1)) }  // [nW, 1, N, N]
        let attended = Tensor.scaledDotProductAttention(
            tokensMajorQuery: qkv.slice(axis: 2, 0, c), key: qkv.slice(axis: 2, c, 2 * c),
            value: qkv.slice(axis: 2, 2 * c, 3 * c), heads: heads, keyValueHeads: heads, additiveBiases: biases)
        return proj(attended.reshaped([bw, n, c]))
    }
}

/// One block: x + attn(norm1(x)) in (shifted) windows, then x + mlp(norm2(x)).
public final class SwinBlock: Module {
    public let norm1: LayerNorm
    public let attn: SwinWindowAttention
    public let norm2: LayerNorm
    public let mlp: MLP
    /// `attn_mask` [nW, N, N] of a shifted block (checked against the computed mask when loaded).
    public let attnMask: Buffer?
    let layout: SwinWindowLayout
    /// The computed shift mask the forward pass uses, [nW, N, N] (nil in unshifted blocks).
    let shiftMask: Tensor?

    init(dim: Int, heads: Int, side: Int, window: Int, shift: Int, mlpRatio: Int, eps: Float) {
        norm1 = LayerNorm(dim, eps: eps)
        attn = SwinWindowAttention(dim: dim, heads: heads, window: window)
        norm2 = LayerNorm(dim, eps: eps)
        mlp = MLP(dim, hidden: dim * mlpRatio, activation: .gelu)
        layout = SwinWindowLayout(side: side, window: window, shift: shift)
        let n = window * window
        shiftMask = shift > 0 ? Tensor(layout.shiftMask(), shape: [layout.windowCount, n, n]) : nil
        attnMask = shiftMask.map { Buffer($0) }
        super.init()
    }

    public override var ownBuffers: [(String, Buffer)] { attnMask.map { [("attn_mask", $0)] } ?? [] }
    public override var children: [(String, Module)] {
        [("norm1", norm1), ("attn", attn), ("norm2", norm2), ("mlp", mlp)]
    }

    /// [B, side², C] → [B, side², C]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let b = x.shape[0], l = x.shape[1], c = x.shape[2], n = layout.tokensPerWindow
        let windows = norm1(x).indexSelect(axis: 1, layout.order)  // [B, L, C] in window order
            .reshaped([b * layout.windowCount, n, c])
        let attended = attn(windows, mask: shiftMask).reshaped([b, l, c]).indexSelect(axis: 1, layout.inverse)
        let h = x + attended
        return h + mlp(norm2(h))
    }
}

/// `downsample`: each 2 × 2 neighbourhood's four tokens concatenated (order (0,0), (1,0), (0,1), (1,1) as
/// (row, column) offsets), LayerNorm over the 4C, then a 4C → 2C projection without bias.
public final class SwinPatchMerging: Module {
    public let reduction: Linear
    public let norm: LayerNorm
    let side: Int

    init(dim: Int, side: Int, eps: Float) {
        reduction = Linear(4 * dim, 2 * dim, bias: false)
        norm = LayerNorm(4 * dim, eps: eps)
        self.side = side
        super.init()
    }

    public override var children: [(String, Module)] { [("reduction", reduction), ("norm", norm)] }

    /// [B, side², C] → [B, (side/2)², 2C]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[2], half = side / 2
        // [B, y', dy, x', dx, C] → [B, y', x', dx, dy, C]: dx-major puts (dy, dx) = (0,0), (1,0), (0,1), (1,1) in order
        let merged = x.reshaped([b, half, 2, half, 2, c]).permuted([0, 1, 3, 4, 2, 5]).reshaped([b, half * half, 4 * c])
        return reduction(norm(merged))
    }
}

/// `layers.{i}` (`BasicLayer`): the stage's blocks (even ones in plain windows, odd ones shifted), then its patch
/// merging unless it is the last stage.
public final class SwinStage: Module {
    public let blocks: ModuleList<SwinBlock>
    public let downsample: SwinPatchMerging?

    init(_ configuration: SwinConfiguration, stage i: Int) {
        let dim = configuration.dim(stage: i), side = configuration.resolution(stage: i)
        let window = configuration.window(stage: i), shift = configuration.shift(stage: i)
        blocks = ModuleList(
            (0..<configuration.depths[i]).map { j in
                SwinBlock(
                    dim: dim, heads: configuration.numHeads[i], side: side, window: window,
                    shift: j % 2 == 0 ? 0 : shift, mlpRatio: configuration.mlpRatio, eps: configuration.layerNormEps)
            })
        downsample =
            i + 1 < configuration.depths.count
            ? SwinPatchMerging(dim: dim, side: side, eps: configuration.layerNormEps) : nil
        super.init()
    }

    public override var children: [(String, Module)] {
        var list: [(String, Module)] = [("blocks", blocks)]
        if let downsample { list.append(("downsample", downsample)) }
        return list
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for block in blocks { h = block(h) }
        return downsample.map { $0(h) } ?? h
    }
}

/// `patch_embed`: a 4 × 4 stride-4 convolution, then LayerNorm over the channels.
public final class SwinPatchEmbedding: Module {
    public let proj: Conv2d
    public let norm: LayerNorm

    init(_ configuration: SwinConfiguration) {
        proj = Conv2d(
            3, configuration.embedDim, kernelSize: configuration.patchSize, stride: configuration.patchSize)
        norm = LayerNorm(configuration.embedDim, eps: configuration.layerNormEps)
        super.init()
    }

    public override var children: [(String, Module)] { [("proj", proj), ("norm", norm)] }

    /// [B, 3, S, S] → [B, (S/4)², C]
    func callAsFunction(_ pixels: Tensor) -> Tensor {
        let b = pixels.shape[0]
        let map = proj(pixels)  // [B, C, g, g]
        return norm(map.reshaped([b, map.shape[1], -1]).transposed(1, 2))
    }
}

/// recognize-anything's `SwinTransformer` (as `visual_encoder` of RAM++).
public final class SwinTransformer: Module {
    public let configuration: SwinConfiguration
    public let patchEmbed: SwinPatchEmbedding
    public let layers: ModuleList<SwinStage>
    public let norm: LayerNorm

    /// The encoder with zero weights.
    public init(_ configuration: SwinConfiguration) {
        self.configuration = configuration
        patchEmbed = SwinPatchEmbedding(configuration)
        layers = ModuleList(configuration.depths.indices.map { SwinStage(configuration, stage: $0) })
        norm = LayerNorm(configuration.outputDim, eps: configuration.layerNormEps)
        super.init()
    }

    public override var children: [(String, Module)] {
        [("patch_embed", patchEmbed), ("layers", layers), ("norm", norm)]
    }

    /// Every stage's output, [B, L_i, C_i] (after its patch merging, as upstream's `layers[i](x)`), and the
    /// encoder's output [B, 1 + L, C] (the token average first, then the normed tokens).
    public func forward(_ pixels: Tensor) -> (stages: [Tensor], output: Tensor) {
        let side = configuration.imageSize
        precondition(
            pixels.rank == 4 && pixels.shape[1] == 3 && pixels.shape[2] == side && pixels.shape[3] == side,
            "SwinTransformer: expects [B, 3, \(side), \(side)], got \(pixels.shape)")
        var h = patchEmbed(pixels)
        var stages: [Tensor] = []
        for stage in layers {
            h = stage(h)
            stages.append(h)
        }
        let tokens = norm(h)  // [B, L, C]
        let pooled = tokens.mean(axis: 1, keepDims: true)  // [B, 1, C]
        return (stages, Tensor.concat([pooled, tokens], axis: 1))
    }

    /// [B, 3, S, S] → [B, 1 + L, C]
    public func callAsFunction(_ pixels: Tensor) -> Tensor { forward(pixels).output }
}
