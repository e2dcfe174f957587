import Foundation

extension Tensor {
    /// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p).
    /// Identity when `training` is false or p = 0. The mask comes from the caller's seeded generator.
    public func dropout(p: Float, training: Bool, generator: inout Generator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: p = \(p) outside [0, 1]")
        if !training || p == 0 { return self }
        if p == 1 { return maskedFill(Tensor(scalar: 1), 0) }  // select, not ×0: Inf/NaN inputs still give 0
        let mask = Tensor.uninitialized(shape)
        let mp = mask.storage.floats
        let keepScale = 1 / (1 - p)
        for i in 0..<count { mp[i] = generator.nextUniform() < p ? 0 : keepScale }
        return self * mask
    }
}
