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
        return Tensor.record("softmax", out, inputs: [self]) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            let gy = g * out
            return [gy - out * gy.sum(axis: ax, keepDims: true)]
        }
    }

    public func logSoftmax(axis: Int = -1) -> Tensor {
        let ax = self.axis(axis)
        let out = softmaxKernel(axis: ax, log: true)
        return Tensor.record("log_softmax", out, inputs: [self]) { g in
            // dx = g − softmax ⊙ Σ g
            [g - out.exp() * g.sum(axis: ax, keepDims: true)]
        }
    }
}
