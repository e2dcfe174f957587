import Foundation
import MGTensor

/// Finite-difference gradient check.
///
/// The scalar checked is L = Σ f(x) ⊙ W for a fixed random W (so every output element matters), accumulated in
/// Double. Each input element is perturbed by ±eps and the central difference is compared with the analytical
/// gradient from `backward()`.
///
/// Tolerances: the ops compute in Float32, so the central difference carries a rounding error of about
/// 1e-7·|L|/eps plus a truncation error of O(eps²·f‴). With eps = 1e-2 and inputs of order 1 both stay below
/// ~1e-3; the defaults accept |analytic − numeric| ≤ 5e-3 + 2e-2·|numeric|. Ops with kinks (relu, abs, max,
/// clamp) must be checked on inputs at least 2·eps away from the kink.
public struct GradCheckResult {
    public var ok: Bool
    public var worst: Double
    public var message: String
}

public func gradCheck(
    _ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 5e-3, rtol: Double = 2e-2, seed: UInt64 = 7,
    maxElementsPerInput: Int = 48, _ f: ([Tensor]) -> Tensor
) -> GradCheckResult {
    var gen = Generator(seed: seed)
    let leaves = inputs.map { $0.copy().requiringGrad() }
    let y = f(leaves)
    let w = Tensor.randn(y.shape, generator: &gen)
    (y * w).sum().backward()
    let weights = w.toArray()

    func lossValue(_ xs: [Tensor]) -> Double {
        let out = withNoGrad { f(xs) }.toArray()
        var total = 0.0
        for i in 0..<out.count { total += Double(out[i]) * Double(weights[i]) }
        return total
    }

    var worst = 0.0
    var failures: [String] = []
    for (k, leaf) in leaves.enumerated() {
        let analytic = leaf.grad?.toArray() ?? [Float](repeating: 0, count: leaf.count)
        // Check every element of small inputs, a seeded sample of large ones.
        var indices = Array(0..<leaf.count)
        if indices.count > maxElementsPerInput {
            indices = Array(gen.permutation(leaf.count).prefix(maxElementsPerInput))
        }
        for i in indices {
            var xs = leaves.map { $0.detached() }
            let plus = inputs[k].copy(), minus = inputs[k].copy()
            plus.unsafeMutableFloats { $0[i] += eps }
            minus.unsafeMutableFloats { $0[i] -= eps }
            xs[k] = plus
            let lp = lossValue(xs)
            xs[k] = minus
            let lm = lossValue(xs)
            let numeric = (lp - lm) / (2 * Double(eps))
            let diff = Swift.abs(Double(analytic[i]) - numeric)
            worst = Swift.max(worst, diff)
            if !(diff <= atol + rtol * Swift.abs(numeric)) {
                failures.append("input \(k)\(inputs[k].shape) element \(i): analytic \(analytic[i]) numeric \(numeric)")
            }
        }
    }
    return GradCheckResult(ok: failures.isEmpty, worst: worst,
                           message: failures.prefix(5).joined(separator: "; "))
}
