import MGTensor

/// Token embedding table (PyTorch `nn.Embedding`). Key `weight` [count, dim]; `initialize(generator:)` draws N(0, 1).
public final class Embedding: Module, Layer {
    public let weight: Parameter

    public var count: Int { weight.shape[0] }
    public var dim: Int { weight.shape[1] }

    /// A zero table [count, dim]: the shape a checkpoint fills, or that `initialize(generator:)` draws for.
    public convenience init(_ count: Int, _ dim: Int) {
        self.init(weight: Tensor.zeros([count, dim]))
    }

    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [count, dim], got \(weight.shape)")
        self.weight = Parameter(weight)
        super.init()
    }

    /// PyTorch's default initialisation: N(0, 1). Returns the layer.
    @discardableResult
    public func initialize(generator: inout Generator) -> Embedding {
        weight.value = Tensor.randn(weight.shape, generator: &generator)
        return self
    }

    public override var ownParameters: [(String, Parameter)] { [("weight", weight)] }

    /// ids of any shape → [..., dim]. Ids must lie in 0..<count (the tensor core checks).
    public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
        weight.tensor.embedding(ids, shape: shape)
    }

    /// An integer tensor of ids [...] → [..., dim].
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        self(ids.toInt64Array().map { Int($0) }, shape: ids.shape)
    }
}
