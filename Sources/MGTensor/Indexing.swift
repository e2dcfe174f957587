import Foundation

// Index-based ops: index_select, gather, embedding lookup, masked_fill.

extension Tensor {
    /// Rows `indices` along `axis` (PyTorch `index_select`); the gradient is scatter-added back.
    public func indexSelect(axis: Int, _ indices: [Int]) -> Tensor {
        let ax = self.axis(axis)
        let outer = shape[..<ax].reduce(1, *), n = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        for i in indices {
            precondition(i >= 0 && i < n, "index_select: index \(i) out of range for dim \(axis) of size \(n)")
        }
        if dtype == .bfloat16 || dtype == .float16 || (dtype.isBlockQuantized && ax == rank - 2) {
            // A 16-bit or quantized table (memory-mapped embedding): widen only the selected rows.
            var outShape = shape
            outShape[ax] = indices.count
            let out = Tensor.uninitialized(outShape)
            let k = indices.count
            for o in 0..<outer {
                for j in 0..<k {
                    widenRows(
                        storage.pointer + dtype.byteCount(for: (o * n + indices[j]) * inner), dtype, inner,
                        into: out.storage.floats + (o * k + j) * inner)
                }
            }
            return out
        }
        let input = float()
        var outShape = shape
        outShape[ax] = indices.count
        let out = Tensor.uninitialized(outShape)
        let src = input.storage.floats, dst = out.storage.floats
        let k = indices.count
        indices.withUnsafeBufferPointer { idx in
            Parallel.forEachChunk(outer * k, costPerItem: inner) { r in
                for ok in r {
                    let o = ok / k, j = ok % k
                    (dst + ok * inner).update(from: src + (o * n + idx[j]) * inner, count: inner)
                }
            }
        }
        let fullShape = shape
        return Tensor.record("index_select", out, inputs: [self]) { g in
            let gi = Tensor.zeros(fullShape)
            let gp = g.storage.floats, dp = gi.storage.floats
            for o in 0..<outer {
                for j in 0..<k {
                    let d = dp + (o * n + indices[j]) * inner, s = gp + (o * k + j) * inner
                    for i in 0..<inner { d[i] += s[i] }
                }
            }
            return [gi]
        }
    }

    /// Embedding lookup: `self` is the table [V, D]; `ids` (any shape given by `idsShape`) → [..., D].
    public func embedding(_ ids: [Int], shape idsShape: [Int]) -> Tensor {
        precondition(rank == 2, "embedding: table must be [V, D], got \(shape)")
        precondition(Tensor.elementCount(idsShape) == ids.count, "embedding: \(ids.count) ids for shape \(idsShape)")
        for id in ids {
            precondition(id >= 0 && id < shape[0], "embedding: token id \(id) outside the vocabulary of \(shape[0])")
        }
        return indexSelect(axis: 0, ids).reshaped(idsShape + [shape[1]])
    }

    /// PyTorch `gather(dim, index)`: out has the shape of `index`; out[…i_d…] = self[…index[…]…] along `axis`.
    public func gather(axis: Int, index: [Int], indexShape: [Int]) -> Tensor {
        let ax = self.axis(axis)
        precondition(indexShape.count == rank, "gather: index rank \(indexShape.count) for shape \(shape)")
        precondition(Tensor.elementCount(indexShape) == index.count, "gather: \(index.count) indices for \(indexShape)")
        for d in 0..<rank where d != ax {
            precondition(indexShape[d] <= shape[d], "gather: index shape \(indexShape) exceeds \(shape) at dim \(d)")
        }
        let input = float()
        var srcStrides = [Int](repeating: 1, count: rank)
        for d in stride(from: rank - 2, through: 0, by: -1) { srcStrides[d] = srcStrides[d + 1] * shape[d + 1] }
        // Source offset of every output element.
        var offsets = [Int](repeating: 0, count: index.count)
        var idx = [Int](repeating: 0, count: rank)
        for e in 0..<index.count {
            let j = index[e]
            precondition(
                j >= 0 && j < shape[ax], "gather: index \(j) out of range for dim \(axis) of size \(shape[ax])")
            var off = 0
            for d in 0..<rank { off += (d == ax ? j : idx[d]) * srcStrides[d] }
            offsets[e] = off
            var d = rank - 1
            while d >= 0 { idx[d] += 1; if idx[d] < indexShape[d] { break }; idx[d] = 0; d -= 1 }
        }
        let out = Tensor.uninitialized(indexShape)
        let src = input.storage.floats, dst = out.storage.floats
        for e in 0..<offsets.count { dst[e] = src[offsets[e]] }
        let fullShape = shape
        return Tensor.record("gather", out, inputs: [self]) { g in
            let gi = Tensor.zeros(fullShape)
            let gp = g.storage.floats, dp = gi.storage.floats
            for e in 0..<offsets.count { dp[offsets[e]] += gp[e] }
            return [gi]
        }
    }

    /// Sets elements to `value` where `mask` (broadcastable to this shape; bool/uint8/float, nonzero = true) holds.
    public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
        let m = mask.float().detached()
        precondition(
            broadcastShapes(shape, m.shape) == shape, "masked_fill: mask \(mask.shape) does not broadcast to \(shape)")
        // 1 where the element is kept, broadcast to the full shape.
        let keep = broadcastBinary(.mul, Tensor.ones(shape), mapUnary(m) { $0 != 0 ? 0 : 1 })
        let input = float()
        let out = Tensor.uninitialized(shape)
        // Select rather than multiply, so a NaN or Inf under the mask does not leak through (x·0 = NaN).
        let px = input.storage.floats, pk = keep.storage.floats, po = out.storage.floats
        for i in 0..<count { po[i] = pk[i] != 0 ? px[i] : value }
        return Tensor.record("masked_fill", out, inputs: [self]) { g in [g * keep] }
    }
}
