import MGNN
import MGTensor

/// Random weights for models benchmarked at real sizes without their checkpoints: cheap to draw, non-trivial
/// (zero pages would all alias one physical page and flatter the memory traffic), norms near 1.
public enum RandomWeights {
    /// Fills every parameter with uniform values (|w| < 0.04; 1-D tensors — norms, biases — in 1 ± 0.1).
    public static func randomize(_ module: Module, _ gen: inout Generator) {
        for (_, p) in module.namedParameters() {
            // Uniform is much cheaper to draw than normal at these sizes; values only need to be non-trivial
            // (zero pages would all alias one physical page and flatter the memory traffic).
            let bound: Float = p.shape.count == 1 ? 0.1 : 0.04
            p.value = Tensor.rand(p.shape, low: -bound, high: bound, generator: &gen) + (p.shape.count == 1 ? 1 : 0)
        }
    }

    /// A bf16 tensor of uniform-ish random values (|w| < 0.03, as bf16 bit patterns; 1-D tensors — norms — ≈ 1),
    /// drawn with a xorshift generator: far cheaper than converting float32 draws at 7 B elements.
    public static func bf16(shape: [Int], state: inout UInt64) -> Tensor {
        let count = shape.reduce(1, *)
        let storage = Storage(uninitializedCount: count, dtype: .bfloat16)
        let p = storage.pointer.assumingMemoryBound(to: UInt16.self)
        let norm = shape.count == 1
        var s = state
        for j in 0..<count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            let mantissa = UInt16(truncatingIfNeeded: s >> 32) & 0x7F
            let sign = UInt16(truncatingIfNeeded: s >> 48) & 0x8000
            p[j] =
                norm
                ? (0x3F80 | (mantissa & 0x0F))
                : (sign | 0x3C00 | (UInt16(truncatingIfNeeded: s >> 40) & 0x1) << 7 | mantissa)
        }
        state = s
        return Tensor(storage: storage, shape: shape)
    }

    /// Replaces every parameter of `module` in place with `bf16(shape:state:)` values (from the seed the decode
    /// and full-step benchmarks use).
    public static func useBF16(_ module: Module) {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for (_, p) in module.namedParameters() { p.useInPlace(bf16(shape: p.shape, state: &state)) }
    }
}
