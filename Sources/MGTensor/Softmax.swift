import Foundation

// softmax and log_softmax along an axis (max-subtracted, accumulated in Double).

extension Tensor {
    private func softmaxKernel(axis ax: Int, log: Bool) -> Tensor {
        let input = float()
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        let out = Tensor.uninitialized(shape)
        let src = input.storage.floats, dst = out.storage.floats
        Parallel.forEachChunk(outer * inner, costPerItem: n * 8) { r in
            for oi in r {
                let o = oi / inner, i = oi % inner
                let base = o * n * inner + i
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, src[base + j * inner]) }
                if m == -.infinity { m = 0 }  // all -inf: exp gives 0/0 = NaN, as PyTorch
                var total: Double = 0
                for j in 0..<n {
                    let e = Foundation.exp(src[base + j * inner] - m)
                    if !log { dst[base + j * inner] = e }
                    total += Double(e)
                }
                if log {
                    let lse = m + Float(Foundation.log(total))
                    for j in 0..<n { dst[base + j * inner] = src[base + j * inner] - lse }
                } else {
                    let inv = Float(1 / total)
                    for j in 0..<n { dst[base + j * inner] *= inv }
                }
            }
        }
        return out
    }

    public func softmax(axis: Int = -1) -> Tensor {
        let ax = self.axis(axis)
        let out = softmaxKernel(axis: ax, log: false)
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        return Tensor.record("softmax", out, inputs: [self]) { g in
            let gx = Tensor.uninitialized(out.shape)
            softmaxBackward(
                gradOutput: g.float().storage.floats, output: out.storage.floats, log: false,
                outer: outer, n: n, inner: inner, gradInput: gx.storage.floats)
            return [gx]
        }
    }

    public func logSoftmax(axis: Int = -1) -> Tensor {
        let ax = self.axis(axis)
        let out = softmaxKernel(axis: ax, log: true)
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        return Tensor.record("log_softmax", out, inputs: [self]) { g in
            let gx = Tensor.uninitialized(out.shape)
            softmaxBackward(
                gradOutput: g.float().storage.floats, output: out.storage.floats, log: true,
                outer: outer, n: n, inner: inner, gradInput: gx.storage.floats)
            return [gx]
        }
    }
}

/// The backward of softmax (`log` false: y = softmax(x), dx = y ⊙ (g − Σ g⊙y)) and of log_softmax (`log` true:
/// y = log_softmax(x), dx = g − exp(y) · Σ g), along the middle axis of an [outer, n, inner] layout, the sums in
/// Double. Rows in parallel, chunked as the forward.
func softmaxBackward(
    gradOutput gp: UnsafePointer<Float>, output yp: UnsafePointer<Float>, log: Bool,
    outer: Int, n: Int, inner: Int, gradInput dp: UnsafeMutablePointer<Float>
) {
    Parallel.forEachChunk(outer * inner, costPerItem: n * 8) { r in
        for oi in r {
            let o = oi / inner, i = oi % inner
            let base = o * n * inner + i
            var total: Double = 0
            if log {
                for j in 0..<n { total += Double(gp[base + j * inner]) }
                let sum = Float(total)
                for j in 0..<n {
                    dp[base + j * inner] = gp[base + j * inner] - Foundation.exp(yp[base + j * inner]) * sum
                }
            } else {
                for j in 0..<n { total += Double(gp[base + j * inner] * yp[base + j * inner]) }
                let dot = Float(total)
                for j in 0..<n { dp[base + j * inner] = yp[base + j * inner] * (gp[base + j * inner] - dot) }
            }
        }
    }
}
