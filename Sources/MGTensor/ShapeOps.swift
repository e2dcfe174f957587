import Foundation

// Shape ops: reshape (no copy), permute/transpose, slice, concat, stack, split, pad, expand.

extension Tensor {
    // MARK: - Reshape

    /// Same elements, new shape (one dim may be -1). Shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let hole = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != hole }.reduce(1) { $0 * $1.element }
            precondition(
                known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(count) elements")
            target[hole] = count / known
        }
        precondition(Tensor.elementCount(target) == count, "reshape: \(shape) (\(count) elements) to \(newShape)")
        if target == shape { return self }
        let out = Tensor(storage: storage, shape: target)
        let original = shape
        return Tensor.record("reshape", out, inputs: [self]) { g in [g.reshaped(original)] }
    }

    public func flattened() -> Tensor { reshaped([count]) }

    /// Inserts a size-1 dim at `axis` (negative counts from the end of the result).
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueeze: axis \(axis) for shape \(shape)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes a size-1 dim.
    public func squeezed(_ axis: Int) -> Tensor {
        let a = self.axis(axis)
        precondition(shape[a] == 1, "squeeze: dim \(axis) of \(shape) is not 1")
        var s = shape
        s.remove(at: a)
        return reshaped(s)
    }

    // MARK: - Permute

    /// Reorders dims: result dim i is input dim `order[i]` (a copy).
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "permute: \(order) for shape \(shape)")
        if order == Array(0..<rank) { return self }
        let input = float()
        let outShape = order.map { shape[$0] }
        let out = Tensor.uninitialized(outShape)
        permuteCopy(src: input.storage.floats, srcShape: shape, order: order, dst: out.storage.floats)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return Tensor.record("permute", out, inputs: [self]) { g in [g.permuted(inverse)] }
    }

    /// Swaps two dims.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axis(a), axis(b))
        return permuted(order)
    }

    // MARK: - Slice

    /// Elements `start..<end` along `axis` (a copy). Negative bounds count from the end.
    public func slice(axis: Int, _ start: Int, _ end: Int) -> Tensor {
        let ax = self.axis(axis)
        let n = shape[ax]
        let s = start < 0 ? start + n : start, e = end < 0 ? end + n : end
        precondition(s >= 0 && e <= n && s <= e, "slice: \(start)..<\(end) of dim \(axis) (size \(n)) in \(shape)")
        if s == 0 && e == n { return self }
        let input = float()
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        outShape[ax] = e - s
        let out = Tensor.uninitialized(outShape)
        let src = input.storage.floats, dst = out.storage.floats
        let block = (e - s) * inner
        for o in 0..<outer {
            (dst + o * block).update(from: src + (o * n + s) * inner, count: block)
        }
        let fullShape = shape
        return Tensor.record("slice", out, inputs: [self]) { g in
            var padding = [(Int, Int)](repeating: (0, 0), count: fullShape.count)
            padding[ax] = (s, n - e)
            return [g.padded(padding)]
        }
    }

    /// Element `index` along `axis`, with that dim removed.
    public func select(axis: Int, _ index: Int) -> Tensor {
        let ax = self.axis(axis)
        let i = index < 0 ? index + shape[ax] : index
        return slice(axis: ax, i, i + 1).squeezed(ax)
    }

    /// Splits along `axis` into pieces of the given sizes (which must add up to the dim).
    public func split(_ sizes: [Int], axis: Int) -> [Tensor] {
        let ax = self.axis(axis)
        precondition(sizes.reduce(0, +) == shape[ax], "split: sizes \(sizes) for dim \(axis) of \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: ax, start, start + size)
        }
    }

    /// Splits along `axis` into `parts` equal pieces.
    public func chunked(_ parts: Int, axis: Int) -> [Tensor] {
        let ax = self.axis(axis)
        precondition(parts > 0 && shape[ax] % parts == 0, "chunk: \(parts) parts of dim \(axis) in \(shape)")
        return split([Int](repeating: shape[ax] / parts, count: parts), axis: ax)
    }

    // MARK: - Concat / stack

    /// Concatenates along `axis`; all other dims must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat of no tensors")
        let first = tensors[0]
        let ax = axis < 0 ? axis + first.rank : axis
        precondition(ax >= 0 && ax < first.rank, "concat: axis \(axis) for shape \(first.shape)")
        var total = 0
        for t in tensors {
            precondition(t.rank == first.rank, "concat: ranks differ (\(first.shape) vs \(t.shape))")
            for d in 0..<first.rank where d != ax {
                precondition(t.shape[d] == first.shape[d], "concat along \(ax): \(first.shape) vs \(t.shape)")
            }
            total += t.shape[ax]
        }
        var outShape = first.shape
        outShape[ax] = total
        let out = Tensor.uninitialized(outShape)
        let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
        let dst = out.storage.floats
        var offset = 0
        for t in tensors {
            let t32 = t.float()  // a named local keeps a widened copy alive while its pointer is used
            let src = t32.storage.floats
            let block = t.shape[ax] * inner
            for o in 0..<outer {
                (dst + (o * total + offset) * inner).update(from: src + o * block, count: block)
            }
            offset += t.shape[ax]
        }
        let sizes = tensors.map { $0.shape[ax] }
        return record("concat", out, inputs: tensors) { g in g.split(sizes, axis: ax).map { Optional($0) } }
    }

    /// Stacks equal-shaped tensors along a new dim.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack of no tensors")
        return concat(tensors.map { $0.unsqueezed(axis) }, axis: axis)
    }

    // MARK: - Pad

    /// Constant padding: `padding[d] = (before, after)` for each dim (fewer entries pad the leading dims by 0).
    public func padded(_ padding: [(Int, Int)], value: Float = 0) -> Tensor {
        precondition(padding.count <= rank, "pad: \(padding.count) pairs for shape \(shape)")
        let pads = [(Int, Int)](repeating: (0, 0), count: rank - padding.count) + padding
        precondition(pads.allSatisfy { $0.0 >= 0 && $0.1 >= 0 }, "pad: negative padding \(padding)")
        if pads.allSatisfy({ $0 == (0, 0) }) { return self }
        let input = float()
        let outShape = zip(shape, pads).map { $0 + $1.0 + $1.1 }
        let out = Tensor.full(outShape, value)
        // Copy rows of the innermost dim into place.
        let r = rank
        if count > 0 {
            let src = input.storage.floats, dst = out.storage.floats
            let rowLen = shape[r - 1]
            let rows = count / rowLen
            var outStrides = [Int](repeating: 1, count: r)
            for d in stride(from: r - 2, through: 0, by: -1) { outStrides[d] = outStrides[d + 1] * outShape[d + 1] }
            var idx = [Int](repeating: 0, count: r)
            for row in 0..<rows {
                var off = pads[r - 1].0
                for d in 0..<(r - 1) { off += (idx[d] + pads[d].0) * outStrides[d] }
                (dst + off).update(from: src + row * rowLen, count: rowLen)
                var d = r - 2
                while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
            }
        }
        let original = shape
        return Tensor.record("pad", out, inputs: [self]) { g in
            var x = g
            for d in 0..<original.count where pads[d] != (0, 0) {
                x = x.slice(axis: d, pads[d].0, pads[d].0 + original[d])
            }
            return [x]
        }
    }

    /// Broadcasts to `target` (a copy); the gradient is summed back.
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        let out = broadcastBinary(.add, Tensor.zeros(target), self)
        precondition(out.shape == target, "expand: \(shape) to \(target)")
        let original = shape
        return Tensor.record("expand", out, inputs: [self]) { g in [g.sumToShape(original)] }
    }
}

/// Copies `src` (row-major `srcShape`) into `dst` with dims reordered by `order`.
func permuteCopy(src: UnsafePointer<Float>, srcShape: [Int], order: [Int], dst: UnsafeMutablePointer<Float>) {
    let r = srcShape.count
    var srcStrides = [Int](repeating: 1, count: r)
    for d in stride(from: r - 2, through: 0, by: -1) { srcStrides[d] = srcStrides[d + 1] * srcShape[d + 1] }
    var dims = order.map { srcShape[$0] }
    var strides = order.map { srcStrides[$0] }
    // Merge output dims that are also adjacent and contiguous in the input.
    var i = dims.count - 1
    while i > 0 {
        if strides[i - 1] == strides[i] * dims[i] {
            dims[i - 1] *= dims[i]; strides[i - 1] = strides[i]
            dims.remove(at: i); strides.remove(at: i)
        }
        i -= 1
    }
    let n = dims.reduce(1, *)
    if n == 0 { return }
    let k = dims.count
    let rowLen = dims[k - 1], rowStride = strides[k - 1]
    let rows = n / rowLen
    if k >= 2 && rowStride != 1 && strides[k - 2] == 1 {
        // A batch of 2-D transposes (NCHW ↔ NHWC, head splits): copy in square tiles so that both the reads and
        // the writes of a tile stay within a few cache lines, instead of one cache line per element read.
        let outer = n / (rowLen * dims[k - 2])
        transposeTiles(
            src: src, dst: dst, count: outer, rows: dims[k - 2], columns: rowLen, columnStride: rowStride,
            outerDims: Array(dims[..<(k - 2)]), outerStrides: Array(strides[..<(k - 2)]))
        return
    }
    Parallel.forEachChunk(rows, costPerItem: rowLen) { range in
        var idx = [Int](repeating: 0, count: k)
        var rem = range.lowerBound
        for d in stride(from: k - 2, through: 0, by: -1) { idx[d] = rem % dims[d]; rem /= dims[d] }
        var off = 0
        for d in 0..<(k - 1) { off += idx[d] * strides[d] }
        for row in range {
            let o = dst + row * rowLen
            if rowStride == 1 {
                o.update(from: src + off, count: rowLen)
            } else {
                for j in 0..<rowLen { o[j] = src[off + j * rowStride] }
            }
            var d = k - 2
            while d >= 0 {
                idx[d] += 1; off += strides[d]
                if idx[d] < dims[d] { break }
                off -= strides[d] * dims[d]; idx[d] = 0
                d -= 1
            }
        }
    }
}

/// dst[o][i][j] = src[base(o) + i + j·columnStride] for o < count (outer index over `outerDims`, row-major, with
/// input strides `outerStrides`), i < rows, j < columns: the innermost two output dims transposed from the input.
private func transposeTiles(
    src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, count: Int, rows: Int,
    columns: Int, columnStride: Int, outerDims: [Int], outerStrides: [Int]
) {
    let tile = 16
    let rowTiles = (rows + tile - 1) / tile
    Parallel.forEachChunk(count * rowTiles, costPerItem: tile * columns) { range in
        for item in range {
            let o = item / rowTiles, i0 = (item % rowTiles) * tile
            var base = 0, rem = o
            for d in stride(from: outerDims.count - 1, through: 0, by: -1) {
                base += (rem % outerDims[d]) * outerStrides[d]
                rem /= outerDims[d]
            }
            let i1 = Swift.min(i0 + tile, rows)
            let out = dst + o * rows * columns
            var j0 = 0
            while j0 < columns {
                let j1 = Swift.min(j0 + tile, columns)
                for i in i0..<i1 {
                    let orow = out + i * columns
                    let s = src + base + i
                    for j in j0..<j1 { orow[j] = s[j * columnStride] }
                }
                j0 = j1
            }
        }
    }
}
