import MGTensor

/// 2-D convolution (PyTorch `nn.Conv2d`, dilation 1). Keys `weight` [out, in/groups, kH, kW] (OIHW) and, when
/// present, `bias` [out].
public final class Conv2d: Module, Layer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let groups: Int

    public var inChannels: Int { weight.shape[1] * groups }
    public var outChannels: Int { weight.shape[0] }
    public var kernelSize: (Int, Int) { (weight.shape[2], weight.shape[3]) }

    /// Zero weights [out, in/groups, kH, kW] (and a zero bias [out]): the shape a checkpoint fills, or that
    /// `initialize(generator:)` draws for (memory is mapped lazily until then).
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), groups: Int = 1, bias: Bool = true
    ) {
        precondition(
            groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
            "Conv2d: groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
        self.init(
            weight: Tensor.zeros([outChannels, inChannels / groups, kernelSize.0, kernelSize.1]),
            bias: bias ? Tensor.zeros([outChannels]) : nil, stride: stride, padding: padding, groups: groups)
    }

    /// Square kernel, equal strides and paddings; zero weights.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
        bias: Bool = true
    ) {
        self.init(
            inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
            padding: (padding, padding), groups: groups, bias: bias)
    }

    /// Given weights: `weight` OIHW, `bias` [out].
    public init(
        weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        groups: Int = 1
    ) {
        precondition(weight.rank == 4, "Conv2d: weight must be [out, in/groups, kH, kW], got \(weight.shape)")
        precondition(groups > 0 && weight.shape[0] % groups == 0, "Conv2d: groups \(groups) for weight \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "Conv2d: bias \(bias.shape) for weight \(weight.shape)")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        self.stride = stride
        self.padding = padding
        self.groups = groups
        super.init()
    }

    /// PyTorch's default initialisation (`reset_parameters`): weight, then bias, ~ U(−1/√fan_in, 1/√fan_in),
    /// fan_in = in/groups·kH·kW. Returns the layer.
    @discardableResult
    public func initialize(generator: inout Generator) -> Conv2d {
        let shape = weight.shape
        let bound = Initialization.uniformBound(fanIn: shape[1] * shape[2] * shape[3])
        weight.value = Initialization.uniform(shape, bound: bound, generator: &generator)
        if let bias { bias.value = Initialization.uniform(bias.shape, bound: bound, generator: &generator) }
        return self
    }

    public override var ownParameters: [(String, Parameter)] {
        var list = [("weight", weight)]
        if let bias { list.append(("bias", bias)) }
        return list
    }

    /// [N, in, H, W] → [N, out, H′, W′]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.conv2d(weight: weight.tensor, bias: bias?.tensor, stride: stride, padding: padding, groups: groups)
    }
}
