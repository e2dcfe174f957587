import MGTensor

/// y = x·Wᵀ + b (PyTorch `nn.Linear`). Keys `weight` [out, in] and, when present, `bias` [out].
public final class Linear: Module, Layer {
    public let weight: Parameter
    public let bias: Parameter?

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// PyTorch's default initialisation: weight and bias ~ U(−1/√in, 1/√in).
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout Generator) {
        let bound = Initialization.uniformBound(fanIn: inFeatures)
        let w = Initialization.uniform([outFeatures, inFeatures], bound: bound, generator: &generator)
        let b = bias ? Initialization.uniform([outFeatures], bound: bound, generator: &generator) : nil
        self.init(weight: w, bias: b)
    }

    /// Given weights: `weight` [out, in], `bias` [out].
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Linear: bias \(bias.shape) for weight \(weight.shape)") }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        super.init()
    }

    public override var ownParameters: [(String, Parameter)] {
        var list = [("weight", weight)]
        if let bias { list.append(("bias", bias)) }
        return list
    }

    /// [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.linear(weight: weight.tensor, bias: bias?.tensor)
    }
}
