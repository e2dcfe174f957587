import MGTensor

/// Layers applied in order, with children named "0", "1", … as in PyTorch's `nn.Sequential`. Parameter-less
/// layers (activations, dropout) keep their index, so `[Linear, ActivationLayer(.gelu), Linear]` has the keys
/// `0.weight`, `0.bias`, `2.weight`, `2.bias`.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
        super.init()
    }

    public convenience init(_ layers: any Layer...) { self.init(layers) }

    public override var children: [(String, Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        layers.reduce(x) { $1($0) }
    }
}

/// A list of modules of one type, with children named "0", "1", … (PyTorch `nn.ModuleList`): a `layers` child
/// of this type gives the keys `layers.0.…`, `layers.1.…`.
public final class ModuleList<Element: Module>: Module, RandomAccessCollection {
    public let modules: [Element]

    public init(_ modules: [Element]) {
        self.modules = modules
        super.init()
    }

    public override var children: [(String, Module)] {
        modules.enumerated().map { (String($0.offset), $0.element) }
    }

    public var startIndex: Int { modules.startIndex }
    public var endIndex: Int { modules.endIndex }
    public subscript(position: Int) -> Element { modules[position] }
}
