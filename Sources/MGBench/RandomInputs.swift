import MGTensor

/// Random inputs for the benchmarks that need more than a random tensor.
public enum RandomInputs {
    /// `count` random boxes of at least 8 px inside the 768 aux frame.
    public static func boxes(_ count: Int, _ gen: inout Generator) -> [RoIBox] {
        (0..<count).map { _ in
            let x = gen.nextInt(below: 700), y = gen.nextInt(below: 700)
            let w = 8 + gen.nextInt(below: 760 - x), h = 8 + gen.nextInt(below: 760 - y)
            return RoIBox(Float(x), Float(y), Float(x + w), Float(y + h))
        }
    }
}
