import MGTensor

/// Linear → activation → Linear (CLIP's and timm's `Mlp`). Keys `<first>.weight/bias`, `<second>.weight/bias`,
/// named `fc1`/`fc2` unless the checkpoint uses other names.
public final class MLP: Module, Layer {
    public let fc1: Linear
    public let fc2: Linear
    public let activation: Activation
    public let names: (String, String)

    /// in → hidden → out (out defaults to in), zero weights (see `initialize(generator:)`).
    public convenience init(
        _ inFeatures: Int, hidden: Int, out outFeatures: Int? = nil, activation: Activation, bias: Bool = true,
        names: (String, String) = ("fc1", "fc2")
    ) {
        self.init(
            fc1: Linear(inFeatures, hidden, bias: bias), fc2: Linear(hidden, outFeatures ?? inFeatures, bias: bias),
            activation: activation, names: names)
    }

    public init(fc1: Linear, fc2: Linear, activation: Activation, names: (String, String) = ("fc1", "fc2")) {
        precondition(
            fc1.outFeatures == fc2.inFeatures, "MLP: \(fc1.outFeatures) hidden features into \(fc2.inFeatures)")
        self.fc1 = fc1
        self.fc2 = fc2
        self.activation = activation
        self.names = names
        super.init()
    }

    /// PyTorch's default initialisation of both linears, first then second. Returns the MLP.
    @discardableResult
    public func initialize(generator: inout Generator) -> MLP {
        fc1.initialize(generator: &generator)
        fc2.initialize(generator: &generator)
        return self
    }

    public override var children: [(String, Module)] { [(names.0, fc1), (names.1, fc2)] }

    /// [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}
