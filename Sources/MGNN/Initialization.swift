import MGTensor

// PyTorch's default initialisations, drawn from our seeded generator (same distributions, not the same numbers).

enum Initialization {
    /// `kaiming_uniform_(w, a=√5)` as nn.Linear / nn.Conv2d use it: gain √(2/(1+a²)) = √(1/3), bound
    /// gain·√(3/fan_in) = 1/√fan_in. The bias uses the same bound, so both come from here.
    static func uniformBound(fanIn: Int) -> Float {
        fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
    }

    /// U(−bound, bound) of the given shape.
    static func uniform(_ shape: [Int], bound: Float, generator: inout Generator) -> Tensor {
        Tensor.rand(shape, low: -bound, high: bound, generator: &generator)
    }
}
