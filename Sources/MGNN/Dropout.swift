import MGTensor

/// Inverted dropout with its own seeded generator; the identity in evaluation mode. No parameters.
///
/// The generator is public so a trainer can save and restore it for an exactly reproducible resume.
public final class Dropout: Module, Layer {
    public let p: Float
    public var generator: Generator

    public init(p: Float, seed: UInt64 = 0) {
        precondition(p >= 0 && p <= 1, "Dropout: p = \(p) outside [0, 1]")
        self.p = p
        self.generator = Generator(seed: seed)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x.dropout(p: p, training: isTraining, generator: &generator)
    }
}
