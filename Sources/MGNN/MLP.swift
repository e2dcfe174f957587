import MGTensor

/// Linear → activation → Linear (CLIP's and timm's `Mlp`). Keys `<first>.weight/bias`, `<second>.weight/bias`,
/// named `fc1`/`fc2` unless the checkpoint uses other names.
public final class MLP: Module, Layer {
    public let fc1: Linear
    public let fc2: Linear
    public let activation: Activation
    public let names: (String, String)

    /// in → hidden → out (out defaults to in), PyTorch default initialisation.
    public convenience init(
        _ inFeatures: Int, hidden: Int, out outFeatures: Int? = nil, activation: Activation, bias: Bool = true,
        names: (String, String) = ("fc1", "fc2"), generator: inout Generator
    ) {
        let fc1 = Linear(inFeatures, hidden, bias: bias, generator: &generator)
        let fc2 = Linear(hidden, outFeatures ?? inFeatures, bias: bias, generator: &generator)
        self.init(fc1: fc1, fc2: fc2, activation: activation, names: names)
    }

    public init(fc1: Linear, fc2: Linear, activation: Activation, names: (String, String) = ("fc1", "fc2")) {
        precondition(fc1.outFeatures == fc2.inFeatures, "MLP: \(fc1.outFeatures) hidden features into \(fc2.inFeatures)")
        self.fc1 = fc1
        self.fc2 = fc2
        self.activation = activation
        self.names = names
        super.init()
    }

    public override var children: [(String, Module)] { [(names.0, fc1), (names.1, fc2)] }

    /// [..., in] → [..., out]
    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(activation(fc1(x))) }
}
