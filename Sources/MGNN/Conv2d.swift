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

    /// PyTorch's default initialisation: weight and bias ~ U(−1/√fan_in, 1/√fan_in), fan_in = in/groups·kH·kW.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), groups: Int = 1, bias: Bool = true, generator: inout Generator
    ) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
        let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
        let bound = Initialization.uniformBound(fanIn: shape[1] * shape[2] * shape[3])
        let w = Initialization.uniform(shape, bound: bound, generator: &generator)
        let b = bias ? Initialization.uniform([outChannels], bound: bound, generator: &generator) : nil
        self.init(weight: w, bias: b, stride: stride, padding: padding, groups: groups)
    }

    /// Square kernel, equal strides and paddings.
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1,
        bias: Bool = true, generator: inout Generator
    ) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), groups: groups, bias: bias, generator: &generator)
    }

    /// Given weights: `weight` OIHW, `bias` [out].
    public init(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                groups: Int = 1) {
        precondition(weight.rank == 4, "Conv2d: weight must be [out, in/groups, kH, kW], got \(weight.shape)")
        precondition(groups > 0 && weight.shape[0] % groups == 0, "Conv2d: groups \(groups) for weight \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Conv2d: bias \(bias.shape) for weight \(weight.shape)") }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        self.stride = stride
        self.padding = padding
        self.groups = groups
        super.init()
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
