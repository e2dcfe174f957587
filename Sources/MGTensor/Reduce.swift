import Foundation

// Reductions over axes (sum, mean, max) with keepDims, and argmax.
// Each single-axis reduction views the tensor as [outer, n, inner] and reduces the middle dim.

/// Sums `src` viewed as [outer, n, inner] over n into `dst` [outer, inner].
func reduceSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, outer: Int, n: Int, inner: Int) {
    if inner == 1 {
        Parallel.forEachChunk(outer, costPerItem: n) { r in
            for o in r {
                var acc: Float = 0
                let row = src + o * n
                for j in 0..<n { acc += row[j] }
                dst[o] = acc
            }
        }
        return
    }
    Parallel.forEachChunk(outer * inner, costPerItem: n) { r in
        // Chunks are ranges of output elements; walk them row by row of `inner`.
        var k = r.lowerBound
        while k < r.upperBound {
            let o = k / inner, i0 = k % inner
            let i1 = min(inner, i0 + (r.upperBound - k))
            let out = dst + o * inner
            for i in i0..<i1 { out[i] = 0 }
            for j in 0..<n {
                let row = src + (o * n + j) * inner
                for i in i0..<i1 { out[i] += row[i] }
            }
            k += i1 - i0
        }
    }
}

extension Tensor {
    fileprivate func split3(_ ax: Int) -> (Int, Int, Int) {
        (shape[..<ax].reduce(1, *), shape[ax], shape[(ax + 1)...].reduce(1, *))
    }

    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = self.axis(axis)
        let input = float()
        let (outer, n, inner) = split3(ax)
        var keptShape = shape
        keptShape[ax] = 1
        let out = Tensor.uninitialized(keptShape)
        reduceSum(input.storage.floats, out.storage.floats, outer: outer, n: n, inner: inner)
        var outShape = keptShape
        if !keepDims { outShape.remove(at: ax) }
        let result = Tensor(storage: out.storage, shape: outShape)
        let fullShape = shape
        return Tensor.record("sum", result, inputs: [self]) { g in [g.reshaped(keptShape).expanded(to: fullShape)] }
    }

    /// Sum over several axes.
    public func sum(axes: [Int], keepDims: Bool = false) -> Tensor {
        let sorted = Set(axes.map { self.axis($0) }).sorted(by: >)
        var x = self
        for a in sorted { x = x.sum(axis: a, keepDims: true) }
        if keepDims { return x }
        var s = x.shape
        for a in sorted { s.remove(at: a) }
        return x.reshaped(s)
    }

    /// Sum of all elements (0-D).
    public func sum() -> Tensor {
        rank == 0 ? self : reshaped([count]).sum(axis: 0)
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        let n = shape[self.axis(axis)]
        return sum(axis: axis, keepDims: keepDims) / Float(n)
    }

    public func mean(axes: [Int], keepDims: Bool = false) -> Tensor {
        let n = Set(axes.map { self.axis($0) }).reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) / Float(n)
    }

    public func mean() -> Tensor { sum() / Float(count) }

    /// Index of the (first) maximum along `axis`; NaN counts as the maximum, as in PyTorch.
    public func argmax(axis: Int) -> [Int] {
        let ax = self.axis(axis)
        let input = float()
        let (outer, n, inner) = split3(ax)
        precondition(n > 0, "argmax over an empty dim of \(shape)")
        let src = input.storage.floats
        var result = [Int](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = src[o * n * inner + i], bestJ = 0
                if !best.isNaN {
                    for j in 1..<Swift.max(n, 1) {
                        let v = src[(o * n + j) * inner + i]
                        if v.isNaN { bestJ = j; break }
                        if v > best { best = v; bestJ = j }
                    }
                }
                result[o * inner + i] = bestJ
            }
        }
        return result
    }

    /// Maximum along `axis` (PyTorch `max(dim)` values); the gradient goes to the first maximal element.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = self.axis(axis)
        let input = float()
        let (outer, n, inner) = split3(ax)
        let idx = argmax(axis: ax)
        var keptShape = shape
        keptShape[ax] = 1
        let out = Tensor.uninitialized(keptShape)
        let src = input.storage.floats, dst = out.storage.floats
        for o in 0..<outer {
            for i in 0..<inner { dst[o * inner + i] = src[(o * n + idx[o * inner + i]) * inner + i] }
        }
        var outShape = keptShape
        if !keepDims { outShape.remove(at: ax) }
        let result = Tensor(storage: out.storage, shape: outShape)
        let fullShape = shape
        return Tensor.record("max", result, inputs: [self]) { g in
            let gi = Tensor.zeros(fullShape)
            let gp = g.storage.floats, dp = gi.storage.floats
            for o in 0..<outer {
                for i in 0..<inner { dp[(o * n + idx[o * inner + i]) * inner + i] = gp[o * inner + i] }
            }
            return [gi]
        }
    }

    /// Maximum over several axes (gradient to the first maximal element of each reduced group).
    public func max(axes: [Int], keepDims: Bool = false) -> Tensor {
        let sorted = Set(axes.map { self.axis($0) }).sorted(by: >)
        var x = self
        for a in sorted { x = x.max(axis: a, keepDims: true) }
        if keepDims { return x }
        var s = x.shape
        for a in sorted { s.remove(at: a) }
        return x.reshaped(s)
    }
}
