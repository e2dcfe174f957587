import Foundation

// Broadcasting binary arithmetic (NumPy/PyTorch rules: shapes aligned on the right, size-1 dims stretch) and the
// reduction of a gradient back to an input's shape.

public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "cannot broadcast shapes \(a) and \(b)")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Strides of `shape` viewed inside a broadcast `outShape` (0 where the dim is stretched or missing).
func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let r = outShape.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let oi = i + (r - shape.count)
        strides[oi] = shape[i] == 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

@usableFromInline
enum BinaryOp { case add, sub, mul, div, maximum, minimum }

@inline(__always)
private func apply(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    case .maximum: return x >= y || x.isNaN ? x : y
    case .minimum: return x <= y || x.isNaN ? x : y
    }
}

// Specialised inner loops keep the switch out of the hot loop.
@inline(__always)
private func rowLoop(
    _ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ o: UnsafeMutablePointer<Float>, _ n: Int
) {
    switch (op, sa, sb) {
    case (.add, 1, 1): for i in 0..<n { o[i] = a[i] + b[i] }
    case (.add, 1, 0): let y = b[0]; for i in 0..<n { o[i] = a[i] + y }
    case (.add, 0, 1): let x = a[0]; for i in 0..<n { o[i] = x + b[i] }
    case (.sub, 1, 1): for i in 0..<n { o[i] = a[i] - b[i] }
    case (.sub, 1, 0): let y = b[0]; for i in 0..<n { o[i] = a[i] - y }
    case (.mul, 1, 1): for i in 0..<n { o[i] = a[i] * b[i] }
    case (.mul, 1, 0): let y = b[0]; for i in 0..<n { o[i] = a[i] * y }
    case (.mul, 0, 1): let x = a[0]; for i in 0..<n { o[i] = x * b[i] }
    case (.div, 1, 1): for i in 0..<n { o[i] = a[i] / b[i] }
    case (.div, 1, 0): let y = b[0]; for i in 0..<n { o[i] = a[i] / y }
    default: for i in 0..<n { o[i] = apply(op, a[i * sa], b[i * sb]) }
    }
}

@usableFromInline
func broadcastBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let a = a.float(), b = b.float()
    let outShape = a.shape == b.shape ? a.shape : broadcastShapes(a.shape, b.shape)
    let out = Tensor.uninitialized(outShape)
    let pa = UnsafePointer(a.storage.floats), pb = UnsafePointer(b.storage.floats), po = out.storage.floats
    let n = out.count
    if n == 0 { return out }
    if a.shape == b.shape {
        Parallel.forEachChunk(n) { r in
            rowLoop(op, pa + r.lowerBound, 1, pb + r.lowerBound, 1, po + r.lowerBound, r.count)
        }
        return out
    }
    if b.count == 1 && a.count == n {
        Parallel.forEachChunk(n) { r in rowLoop(op, pa + r.lowerBound, 1, pb, 0, po + r.lowerBound, r.count) }
        return out
    }
    if a.count == 1 && b.count == n {
        Parallel.forEachChunk(n) { r in rowLoop(op, pa, 0, pb + r.lowerBound, 1, po + r.lowerBound, r.count) }
        return out
    }
    // General case: coalesce dims, then loop over rows of the innermost dim.
    var sa = broadcastStrides(a.shape, to: outShape), sb = broadcastStrides(b.shape, to: outShape)
    var dims = outShape
    // Merge adjacent dims whose strides are contiguous for both operands.
    var i = dims.count - 1
    while i > 0 {
        let inner = dims[i]
        if sa[i - 1] == sa[i] * inner && sb[i - 1] == sb[i] * inner {
            dims[i - 1] *= inner
            sa[i - 1] = sa[i]; sb[i - 1] = sb[i]
            dims.remove(at: i); sa.remove(at: i); sb.remove(at: i)
        }
        i -= 1
    }
    let r = dims.count
    let rowLen = dims[r - 1], rsa = sa[r - 1], rsb = sb[r - 1]
    let rows = n / rowLen
    Parallel.forEachChunk(rows, costPerItem: rowLen) { range in
        // Decompose the first row index into a multi-index over the outer dims, then step it.
        var idx = [Int](repeating: 0, count: r)
        var rem = range.lowerBound
        for d in stride(from: r - 2, through: 0, by: -1) { idx[d] = rem % dims[d]; rem /= dims[d] }
        var offA = 0, offB = 0
        for d in 0..<(r - 1) { offA += idx[d] * sa[d]; offB += idx[d] * sb[d] }
        for row in range {
            rowLoop(op, pa + offA, rsa, pb + offB, rsb, po + row * rowLen, rowLen)
            var d = r - 2
            while d >= 0 {
                idx[d] += 1; offA += sa[d]; offB += sb[d]
                if idx[d] < dims[d] { break }
                offA -= sa[d] * dims[d]; offB -= sb[d] * dims[d]; idx[d] = 0
                d -= 1
            }
        }
    }
    return out
}

extension Tensor {
    /// Sums a broadcast gradient back down to `shape` (the shape of the input it flows to).
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "sumToShape: \(shape) cannot reduce to \(target)")
        var axes = Array(0..<lead)
        for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let summed = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        return summed.reshaped(target)
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastBinary(.add, a, b)
        let sa = a.shape, sb = b.shape
        return record("add", out, inputs: [a, b]) { g in [g.sumToShape(sa), g.sumToShape(sb)] }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastBinary(.sub, a, b)
        let sa = a.shape, sb = b.shape
        return record("sub", out, inputs: [a, b]) { g in [g.sumToShape(sa), g.neg().sumToShape(sb)] }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastBinary(.mul, a, b)
        let av = a.detached(), bv = b.detached()
        let needA = a.requiresGrad, needB = b.requiresGrad
        return record("mul", out, inputs: [a, b]) { g in
            [needA ? (g * bv).sumToShape(av.shape) : nil, needB ? (g * av).sumToShape(bv.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastBinary(.div, a, b)
        let bv = b.detached()
        let sa = a.shape
        let needA = a.requiresGrad, needB = b.requiresGrad
        return record("div", out, inputs: [a, b]) { g in
            let ga = g / bv
            // d(a/b)/db = -a/b² = -out/b
            return [needA ? ga.sumToShape(sa) : nil, needB ? (ga * out).neg().sumToShape(bv.shape) : nil]
        }
    }

    /// Element-wise maximum with broadcasting; as in PyTorch, ties split the gradient in half.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = broadcastBinary(.maximum, a, b)
        let av = a.detached(), bv = b.detached()
        return record("maximum", out, inputs: [a, b]) { g in
            let shareA = mapUnary(broadcastBinary(.sub, av, bv)) { $0 > 0 || $0.isNaN ? 1 : ($0 == 0 ? 0.5 : 0) }
            return [(g * shareA).sumToShape(av.shape), (g * (1 - shareA)).sumToShape(bv.shape)]
        }
    }
}
