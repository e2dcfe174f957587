import MGTensor

/// Token embedding table (PyTorch `nn.Embedding`). Key `weight` [count, dim], initialised N(0, 1).
public final class Embedding: Module, Layer {
    public let weight: Parameter

    public var count: Int { weight.shape[0] }
    public var dim: Int { weight.shape[1] }

    public convenience init(_ count: Int, _ dim: Int, generator: inout Generator) {
        self.init(weight: Tensor.randn([count, dim], generator: &generator))
    }

    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [count, dim], got \(weight.shape)")
        self.weight = Parameter(weight)
        super.init()
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
