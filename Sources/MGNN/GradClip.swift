import MGTensor

/// Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` with norm type 2.
///
/// The total norm is the 2-norm over every gradient together (parameters without a gradient, frozen ones
/// included, are left out). When `maxNorm / (total + 1e-6)` is below 1 every gradient is scaled by it in place;
/// otherwise they are left untouched (torch multiplies by the clamped coefficient 1, which changes nothing).
/// A non-finite total makes the coefficient NaN and, as in torch with `error_if_nonfinite=False`, the gradients
/// NaN; callers check the returned norm to skip such a step.
///
/// - Returns: the total norm before clipping (what trainers log as `grad_norm`).
@discardableResult
public func clipGradNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    let grads = parameters.compactMap { $0.grad }
    if grads.isEmpty { return 0 }
    // Sum of squares in Double: one pass, no intermediate rounding (torch rounds each per-tensor norm to Float,
    // a difference of about one ulp of the result).
    var sumOfSquares = 0.0
    for g in grads {
        g.withFloats { p in
            for x in p { sumOfSquares += Double(x) * Double(x) }
        }
    }
    let total = Float(sumOfSquares.squareRoot())
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 || coefficient.isNaN {
        for parameter in parameters {
            guard let g = parameter.grad else { continue }
            parameter.grad = g * coefficient
        }
    }
    return total
}
