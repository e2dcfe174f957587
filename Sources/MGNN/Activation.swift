import MGTensor

/// The element-wise activations the models use, by their reference names.
public enum Activation: String, Codable, Sendable, CaseIterable {
    /// Exact GELU (PyTorch `nn.GELU()`, HF "gelu").
    case gelu
    /// Tanh-approximated GELU (HF "gelu_new" / "gelu_pytorch_tanh").
    case geluTanh
    /// x·σ(1.702x), CLIP's "quick_gelu".
    case quickGelu
    /// x·σ(x), LLaMA's "silu".
    case silu
    case relu

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu()
        case .geluTanh: return x.geluTanh()
        case .quickGelu: return x.quickGelu()
        case .silu: return x.silu()
        case .relu: return x.relu()
        }
    }
}

/// An activation as a parameter-less module, for `Sequential` slots such as the GELU at index 1 of MG-LLaVA's
/// projector (`projector.model.0`, GELU, `projector.model.2`).
public final class ActivationLayer: Module, Layer {
    public let activation: Activation

    public init(_ activation: Activation) {
        self.activation = activation
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { activation(x) }
}
