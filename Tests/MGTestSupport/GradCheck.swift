import Foundation
import MGTensor

/// Finite-difference gradient check.
///
/// The scalar checked is L = Σ f(x) ⊙ W for a fixed random W (so every output element matters), accumulated in
/// Double. Each input element is perturbed by ±eps and by ±eps/2; the two central differences are combined by
/// Richardson extrapolation, (4·D(eps/2) − D(eps))/3, which cancels the O(eps²) truncation term and leaves
/// O(eps⁴), and the result is compared with the analytical gradient from `backward()`.
///
/// Tolerances: the ops compute in Float32, so each difference carries a rounding error of about 6e-8·Σ|f⊙W|/eps
/// (≈ 1e-4 for the test shapes, where Σ|f⊙W| is a few tens), which the extrapolation multiplies by ~2; the
/// truncation left is O(eps⁴·f⁽⁵⁾) ≈ 1e-8. The defaults accept |analytic − numeric| ≤ 1e-3 + 5e-3·|numeric|, so
/// a gradient off by 1 % fails wherever its magnitude exceeds 0.2 (GradientCheckTests shows it does). Ops with
/// kinks (relu, abs, max, clamp) must be checked on inputs at least 2·eps away from the kink.
public struct GradCheckResult {
    public var ok: Bool
    public var worst: Double
    public var message: String
}

public func gradCheck(
    _ inputs: [Tensor], eps: Float = 1e-2, atol: Double? = nil, rtol: Double = 5e-3, seed: UInt64 = 7,
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
    // The Float32 rounding noise of one difference: each output's relative error (≤ ~1e-7 after a few ops) times
    // Σ|f⊙W|, over the step; ×4 for the extrapolation and a margin. A caller's `atol` replaces it.
    let magnitude = zip(y.toArray(), weights).reduce(0.0) { $0 + Swift.abs(Double($1.0) * Double($1.1)) }
    let tolerance = atol ?? Swift.max(1e-6, 4e-6 * magnitude / Double(eps))

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
            /// The central difference with step h (the perturbed value rounded to Float, as the op sees it).
            func central(_ h: Float) -> Double {
                let plus = inputs[k].copy(), minus = inputs[k].copy()
                var up = 0.0, down = 0.0
                plus.unsafeMutableFloats {
                    $0[i] += h; up = Double($0[i])
                }
                minus.unsafeMutableFloats {
                    $0[i] -= h; down = Double($0[i])
                }
                xs[k] = plus
                let lp = lossValue(xs)
                xs[k] = minus
                let lm = lossValue(xs)
                return (lp - lm) / (up - down)
            }
            let numeric = (4 * central(eps / 2) - central(eps)) / 3
            let diff = Swift.abs(Double(analytic[i]) - numeric)
            worst = Swift.max(worst, diff)
            if !(diff <= tolerance + rtol * Swift.abs(numeric)) {
                failures.append("input \(k)\(inputs[k].shape) element \(i): analytic \(analytic[i]) numeric \(numeric)")
            }
        }
    }
    return GradCheckResult(
        ok: failures.isEmpty, worst: worst,
        message: failures.prefix(5).joined(separator: "; "))
}
