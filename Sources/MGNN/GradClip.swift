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
    // Sum of squares in Double (torch rounds each per-tensor norm to Float, a difference of about one ulp of the
    // result): partial sums over fixed blocks of each gradient, in parallel, added in order, so the total does not
    // depend on thread timing.
    let block = 1 << 16
    var blocks: [(tensor: Int, range: Range<Int>)] = []
    for (t, g) in grads.enumerated() {
        for start in stride(from: 0, to: g.count, by: block) { blocks.append((t, start..<min(g.count, start + block))) }
    }
    var partials = [Double](repeating: 0, count: blocks.count)
    do {
        // The float views are released before the scaling below, which may replace a gradient by a new tensor:
        // holding them across it kept every old gradient alive beside its replacement (+1 GiB in the Phi-3 step).
        let floats = grads.map { $0.float() }
        let pointers = floats.map { $0.storage.floats }
        partials.withUnsafeMutableBufferPointer { out in
            Parallel.forEachChunk(blocks.count, costPerItem: block) { range in
                for b in range {
                    let p = pointers[blocks[b].tensor]
                    var s = 0.0
                    for i in blocks[b].range { s += Double(p[i]) * Double(p[i]) }
                    out[b] = s
                }
            }
        }
        withExtendedLifetime(floats) {}
    }
    let total = Float(partials.reduce(0, +).squareRoot())
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 || coefficient.isNaN { scaleGradients(parameters, by: coefficient) }
    return total
}

/// Multiplies every gradient by `coefficient` in place, as torch's `g.mul_(clip_coef)`: no new memory (fresh
/// gradient-sized mappings cost page faults and clears — ~0.5 GB/s of the Phi-3 step's clipping went there). A
/// storage shared by several gradients is scaled once; one that is not an owned float32 gradient of its own (a
/// borrowed buffer, or a parameter's own value) is replaced by a scaled copy instead.
func scaleGradients(_ parameters: [Parameter], by coefficient: Float) {
    let valueStorages = Set(parameters.map { ObjectIdentifier($0.value.storage) })
    var scaled = Set<ObjectIdentifier>()
    var inPlace: [Tensor] = []
    for parameter in parameters {
        guard let g = parameter.grad else { continue }
        let id = ObjectIdentifier(g.storage)
        if g.dtype == .float32 && g.storage.ownsMemory && !valueStorages.contains(id) {
            if scaled.insert(id).inserted { inPlace.append(g) }
        } else {
            parameter.grad = g * coefficient
        }
    }
    // Fixed blocks over all gradients, in parallel: one pass, each element scaled once.
    let block = 1 << 16
    var blocks: [(tensor: Int, range: Range<Int>)] = []
    for (t, g) in inPlace.enumerated() {
        for start in stride(from: 0, to: g.count, by: block) { blocks.append((t, start..<min(g.count, start + block))) }
    }
    let pointers = inPlace.map { $0.storage.floats }
    Parallel.forEachChunk(blocks.count, costPerItem: block) { range in
        for b in range {
            let p = pointers[blocks[b].tensor]
            for i in blocks[b].range { p[i] *= coefficient }
        }
    }
    withExtendedLifetime(inPlace) {}
}
