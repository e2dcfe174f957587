import MGTensor

/// LayerNorm over the last dim (PyTorch `nn.LayerNorm`). Keys `weight` and `bias` [dim], initialised to ones
/// and zeros; `affine: false` has neither.
public final class LayerNorm: Module, Layer {
    public let weight: Parameter?
    public let bias: Parameter?
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5, affine: Bool = true) {
        weight = affine ? Parameter(Tensor.ones([dim])) : nil
        bias = affine ? Parameter(Tensor.zeros([dim])) : nil
        self.eps = eps
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] {
        var list: [(String, Parameter)] = []
        if let weight { list.append(("weight", weight)) }
        if let bias { list.append(("bias", bias)) }
        return list
    }

    /// [..., dim] → [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNorm(weight: weight?.tensor, bias: bias?.tensor, eps: eps)
    }
}

/// LayerNorm over the channel dim of NCHW maps (timm `LayerNorm2d`, ConvNeXt's stem and downsampling).
/// Keys `weight` and `bias` [channels].
public final class LayerNorm2d: Module, Layer {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Float

    public init(_ channels: Int, eps: Float = 1e-6) {
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        self.eps = eps
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }

    /// [N, C, H, W] → [N, C, H, W]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNorm2d(weight: weight.tensor, bias: bias.tensor, eps: eps)
    }
}

/// RMSNorm over the last dim (HF `LlamaRMSNorm`). Key `weight` [dim], initialised to ones; no bias.
public final class RMSNorm: Module, Layer {
    public let weight: Parameter
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-6) {
        weight = Parameter(Tensor.ones([dim]))
        self.eps = eps
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] { [("weight", weight)] }

    /// [..., dim] → [..., dim]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.rmsNorm(weight: weight.tensor, eps: eps)
    }
}
