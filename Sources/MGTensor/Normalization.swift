import Foundation

// layer_norm (last dim, biased variance, PyTorch eps semantics) and rms_norm (HF LlamaRMSNorm: statistics in
// float32, normalised value cast back to the input dtype, then multiplied by the weight).

extension Tensor {
    /// LayerNorm over the last dim: (x − mean)/√(var + eps) · weight + bias.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let d = shape.last ?? 1
        if let weight { precondition(weight.shape == [d], "layer_norm: weight \(weight.shape) for last dim \(d)") }
        if let bias { precondition(bias.shape == [d], "layer_norm: bias \(bias.shape) for last dim \(d)") }
        let input = float()
        let rows = count / Swift.max(d, 1)
        let out = Tensor.uninitialized(shape)
        // x̂ and 1/σ are kept only when the backward will need them.
        let saving =
            Tensor.wouldRecord(self) || (weight.map { Tensor.wouldRecord($0) } ?? false)
            || (bias.map { Tensor.wouldRecord($0) } ?? false)
        let xhat = saving ? Tensor.uninitialized(shape) : nil
        var rstd = [Float](repeating: 0, count: saving ? rows : 0)
        let src = input.storage.floats, dst = out.storage.floats, xh = xhat?.storage.floats
        // Named locals keep widened copies of 16-bit weights alive while their pointers are in use.
        let weight32 = weight?.float(), bias32 = bias?.float()
        let w = weight32?.storage.floats, b = bias32?.storage.floats
        rstd.withUnsafeMutableBufferPointer { rs in
            let rsp = saving ? rs.baseAddress : nil  // an empty array's base address may be non-nil
            Parallel.forEachChunk(rows, costPerItem: d * 4) { r in
                for row in r {
                    let x = src + row * d
                    var sum: Double = 0
                    for j in 0..<d { sum += Double(x[j]) }
                    let mean = sum / Double(d)
                    var sq: Double = 0
                    for j in 0..<d { let c = Double(x[j]) - mean; sq += c * c }
                    let inv = Float(1 / (sq / Double(d) + Double(eps)).squareRoot())
                    rsp?[row] = inv
                    let m = Float(mean)
                    let y = dst + row * d, h = xh.map { $0 + row * d }
                    for j in 0..<d {
                        let v = (x[j] - m) * inv
                        h?[j] = v
                        var o = v
                        if let w { o *= w[j] }
                        if let b { o += b[j] }
                        y[j] = o
                    }
                }
            }
        }
        guard let xhat else { return out }
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let wv = weight?.float().detached()
        let needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        let hasW = weight != nil, hasB = bias != nil
        return Tensor.record("layer_norm", out, inputs: inputs) { g in
            let gxhat = wv.map { g * $0 } ?? g.float()
            let gx = Tensor.uninitialized(g.shape)
            rstd.withUnsafeBufferPointer { rs in
                layerNormBackward(
                    gradNormalized: gxhat.storage.floats, normalized: xhat.storage.floats,
                    rstd: rs.baseAddress!, rows: rows, d: d, gradInput: gx.storage.floats)
            }
            var grads: [Tensor?] = [gx]
            let g2 = g.reshaped([rows, d])
            if hasW { grads.append(needW ? (g2 * xhat.reshaped([rows, d])).sum(axis: 0) : nil) }
            if hasB { grads.append(needB ? g2.sum(axis: 0) : nil) }
            return grads
        }
    }

    /// HF LlamaRMSNorm: x · rsqrt(mean(x²) + eps), rounded to the input's dtype when that is 16-bit, then · weight.
    /// A bf16/f16 input gives a float32 result (the weight multiply promotes), as in PyTorch.
    public func rmsNorm(weight: Tensor, eps: Float) -> Tensor {
        let d = shape.last ?? 1
        precondition(weight.shape == [d], "rms_norm: weight \(weight.shape) for last dim \(d)")
        let inputDType = dtype
        let input = float()
        let rows = count / Swift.max(d, 1)
        let out = Tensor.uninitialized(shape)
        // The normalised x (for the weight's gradient) and 1/rms are kept only when the backward will need them.
        let saving = Tensor.wouldRecord(self, weight)
        let normed = saving ? Tensor.uninitialized(shape) : nil
        var rstd = [Float](repeating: 0, count: saving ? rows : 0)
        let src = input.storage.floats, dst = out.storage.floats, np = normed?.storage.floats
        let weight32 = weight.float()  // a named local keeps a widened copy alive while its pointer is used
        let w = weight32.storage.floats
        rstd.withUnsafeMutableBufferPointer { rs in
            let rsp = saving ? rs.baseAddress : nil  // an empty array's base address may be non-nil
            Parallel.forEachChunk(rows, costPerItem: d * 3) { r in
                for row in r {
                    let x = src + row * d
                    var sq: Float = 0
                    for j in 0..<d { sq += x[j] * x[j] }
                    let inv = 1 / (sq / Float(d) + eps).squareRoot()
                    rsp?[row] = inv
                    for j in 0..<d {
                        var v = x[j] * inv
                        switch inputDType {
                        case .float16: v = f16ToFloat(floatToF16(v))
                        case .bfloat16: v = bf16ToFloat(floatToBF16(v))
                        default: break
                        }
                        np?[row * d + j] = v
                        dst[row * d + j] = w[j] * v
                    }
                }
            }
        }
        guard let normed else { return out }
        let xv = input.detached(), wv = weight.float().detached()
        let needW = weight.requiresGrad
        return Tensor.record("rms_norm", out, inputs: [self, weight]) { g in
            let gw = g * wv
            let gx = Tensor.uninitialized(g.shape)
            rstd.withUnsafeBufferPointer { rs in
                rmsNormBackward(
                    gradScaled: gw.storage.floats, input: xv.storage.floats, rstd: rs.baseAddress!,
                    rows: rows, d: d, gradInput: gx.storage.floats)
            }
            let gweight = needW ? (g.reshaped([rows, d]) * normed.reshaped([rows, d])).sum(axis: 0) : nil
            return [gx, gweight]
        }
    }

    /// LayerNorm over the channel dim of an NCHW tensor (timm `LayerNorm2d`).
    public func layerNorm2d(weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        precondition(rank == 4, "layer_norm_2d expects NCHW, got \(shape)")
        return permuted([0, 2, 3, 1]).layerNorm(weight: weight, bias: bias, eps: eps).permuted([0, 3, 1, 2])
    }
}

/// LayerNorm's input gradient per row from ĝ = g ⊙ weight (or g), x̂ and 1/σ:
/// dx = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), the means accumulated in Double. Rows in parallel, chunked as the
/// forward.
func layerNormBackward(
    gradNormalized gp: UnsafePointer<Float>, normalized hp: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, rows: Int, d: Int, gradInput op: UnsafeMutablePointer<Float>
) {
    Parallel.forEachChunk(rows, costPerItem: d * 4) { r in
        for row in r {
            var s1: Double = 0, s2: Double = 0
            for j in 0..<d { s1 += Double(gp[row * d + j]); s2 += Double(gp[row * d + j] * hp[row * d + j]) }
            let m1 = Float(s1 / Double(d)), m2 = Float(s2 / Double(d))
            let inv = rstd[row]
            for j in 0..<d { op[row * d + j] = inv * (gp[row * d + j] - m1 - hp[row * d + j] * m2) }
        }
    }
}

/// RMSNorm's input gradient per row from g ⊙ weight, x and r = 1/rms: dx = r · (g⊙w − x · r² · mean(g⊙w⊙x)), the
/// mean accumulated in Double. Rows in parallel, chunked as the forward.
func rmsNormBackward(
    gradScaled gp: UnsafePointer<Float>, input xp: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    rows: Int, d: Int, gradInput op: UnsafeMutablePointer<Float>
) {
    Parallel.forEachChunk(rows, costPerItem: d * 3) { r in
        for row in r {
            var s: Double = 0
            for j in 0..<d { s += Double(gp[row * d + j] * xp[row * d + j]) }
            let inv = rstd[row]
            let m = Float(s / Double(d)) * inv * inv
            for j in 0..<d { op[row * d + j] = inv * (gp[row * d + j] - xp[row * d + j] * m) }
        }
    }
}
