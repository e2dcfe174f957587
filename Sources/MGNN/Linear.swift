import MGTensor

/// y = x·Wᵀ + b (PyTorch `nn.Linear`). Keys `weight` [out, in] and, when present, `bias` [out].
public final class Linear: Module, Layer {
    public let weight: Parameter
    public let bias: Parameter?
    /// A LoRA update added to the output (`attachLoRA`); its weights are this layer's `lora_A.weight` and
    /// `lora_B.weight`, as PEFT names them.
    public var adapter: LoRAAdapter?

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Zero weights [out, in] (and a zero bias [out]): the shape a checkpoint fills, or that `initialize(generator:)`
    /// draws for (memory is mapped lazily until then).
    public convenience init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.init(weight: Tensor.zeros([outFeatures, inFeatures]), bias: bias ? Tensor.zeros([outFeatures]) : nil)
    }

    /// Given weights: `weight` [out, in], `bias` [out].
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "Linear: bias \(bias.shape) for weight \(weight.shape)")
        }
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
        super.init()
    }

    /// PyTorch's default initialisation (`reset_parameters`): weight, then bias, ~ U(−1/√in, 1/√in). Returns the
    /// layer, so that `Linear(4, 8).initialize(generator: &g)` builds a randomly initialised one.
    @discardableResult
    public func initialize(generator: inout Generator) -> Linear {
        let bound = Initialization.uniformBound(fanIn: inFeatures)
        weight.value = Initialization.uniform(weight.shape, bound: bound, generator: &generator)
        if let bias { bias.value = Initialization.uniform(bias.shape, bound: bound, generator: &generator) }
        return self
    }

    public override var ownParameters: [(String, Parameter)] {
        var list = [("weight", weight)]
        if let bias { list.append(("bias", bias)) }
        return list
    }

    public override var children: [(String, Module)] {
        guard let adapter else { return [] }
        return [("lora_A", adapter.a), ("lora_B", adapter.b)]
    }

    /// [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = x.linear(weight: weight.tensor, bias: bias?.tensor)
        guard let adapter else { return y }
        return y + adapter.delta(x, training: isTraining)
    }
}
