import Foundation

// Scaled dot-product attention (PyTorch `F.scaled_dot_product_attention` semantics, math path), with grouped
// key/value heads (GQA), a boolean mask and/or a causal mask. Scores go through sgemm per (batch, head).

extension Tensor {
    /// softmax(q·kᵀ·scale + mask)·v.
    ///
    /// - q: [B, H, L, D]; k: [B, Hkv, S, D]; v: [B, Hkv, S, Dv], with H a multiple of Hkv (query head h reads
    ///   key/value head h / (H/Hkv), as HF's `repeat_kv`).
    /// - mask: broadcastable to [B, H, L, S]; nonzero = may attend (PyTorch's boolean `attn_mask`).
    /// - isCausal: query i may attend key j only if j ≤ i + causalOffset (offset 0 is PyTorch's top-left
    ///   `is_causal`; a KV-cached decode step passes the number of cached positions).
    /// - slidingWindow: with `isCausal`, query i may also only attend keys j > i + causalOffset − window (Phi-3).
    /// - keyLength: use only the first `keyLength` positions of k and v (a preallocated KV cache of capacity
    ///   k.shape[2]); inference only (no gradient is recorded for that form).
    /// - A query row with no allowed key yields zeros (rather than NaN), so padded rows stay finite.
    /// - Returns [B, H, L, Dv].
    public static func scaledDotProductAttention(
        query q: Tensor, key k: Tensor, value v: Tensor, mask: Tensor? = nil,
        isCausal: Bool = false, causalOffset: Int = 0, slidingWindow: Int? = nil, keyLength: Int? = nil,
        scale: Float? = nil
    ) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "sdpa: q \(q.shape), k \(k.shape), v \(v.shape) must be 4-D")
        let b = q.shape[0], h = q.shape[1], l = q.shape[2], d = q.shape[3]
        let hkv = k.shape[1], capacity = k.shape[2], dv = v.shape[3]
        let s = keyLength ?? capacity
        precondition(s >= 0 && s <= capacity, "sdpa: key length \(s) beyond the \(capacity) cached positions")
        precondition(keyLength == nil || !wouldRecord(q, k, v), "sdpa: keyLength (KV cache) is inference-only")
        precondition(k.shape[0] == b && v.shape[0] == b && k.shape[3] == d && v.shape[1] == hkv && v.shape[2] == capacity,
                     "sdpa: incompatible q \(q.shape), k \(k.shape), v \(v.shape)")
        precondition(hkv > 0 && h % hkv == 0, "sdpa: \(h) query heads not a multiple of \(hkv) key/value heads")
        let group = h / hkv
        let sc = scale ?? 1 / Float(d).squareRoot()
        let qf = q.float(), kf = k.float(), vf = v.float()
        let probs = Tensor.uninitialized([b, h, l, s])
        let out = Tensor.uninitialized([b, h, l, dv])
        // Mask strides over [B, H, L, S] (0 on broadcast dims).
        var maskData: Tensor? = nil
        var ms = [0, 0, 0, 0]
        if let mask {
            precondition(mask.rank <= 4 && broadcastShapes(mask.shape, [b, h, l, s]) == [b, h, l, s],
                         "sdpa: mask \(mask.shape) does not broadcast to [\(b), \(h), \(l), \(s)]")
            maskData = mask.float()
            ms = broadcastStrides(mask.shape, to: [b, h, l, s])
        }
        let qp = qf.storage.floats, kp = kf.storage.floats, vp = vf.storage.floats
        let pp = probs.storage.floats, op = out.storage.floats
        let mp = maskData?.storage.floats
        // Heads in parallel, each with single-threaded BLAS: the products are small and the softmax between them
        // would otherwise fight OpenBLAS's spinning workers for the cores.
        Parallel.forEachWithSerialBLAS(b * h) { bh in
            let bi = bh / h, hi = bh % h
            let kvh = hi / group
            let scores = pp + bh * l * s
            gemm(transA: false, transB: true, m: l, n: s, k: d, alpha: sc,
                 a: qp + bh * l * d, lda: d, b: kp + (bi * hkv + kvh) * capacity * d, ldb: d, c: scores, ldc: s)
            for i in 0..<l {
                let row = scores + i * s
                if let mp {
                    let mrow = mp + bi * ms[0] + hi * ms[1] + i * ms[2]
                    for j in 0..<s where mrow[j * ms[3]] == 0 { row[j] = -.infinity }
                }
                if isCausal {
                    let first = Swift.max(i + causalOffset + 1, 0)
                    if first < s { for j in first..<s { row[j] = -.infinity } }
                    if let window = slidingWindow {
                        let last = Swift.min(i + causalOffset - window, s - 1)
                        if last >= 0 { for j in 0...last { row[j] = -.infinity } }
                    }
                }
                softmaxRowInPlace(row, s)
            }
            gemm(transA: false, transB: false, m: l, n: dv, k: s, a: scores, lda: s,
                 b: vp + (bi * hkv + kvh) * capacity * dv, ldb: dv, c: op + bh * l * dv, ldc: dv)
        }
        let qv = qf.detached(), kv = kf.detached(), vv = vf.detached()
        return record("sdpa", out, inputs: [q, k, v]) { g in
            let gq = Tensor.uninitialized(qv.shape), gk = Tensor.zeros(kv.shape), gvT = Tensor.zeros(vv.shape)
            let gp = g.storage.floats
            let dS = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(l * s, 1))
            defer { dS.deallocate() }
            let qp = qv.storage.floats, kp = kv.storage.floats, vp = vv.storage.floats
            for bi in 0..<b {
                for hi in 0..<h {
                    let kvh = hi / group, bh = bi * h + hi, kvOff = bi * hkv + kvh
                    let p = probs.storage.floats + bh * l * s, go = gp + bh * l * dv
                    // dV += Pᵀ·dO
                    gemm(transA: true, transB: false, m: s, n: dv, k: l, a: p, lda: s, b: go, ldb: dv,
                         beta: 1, c: gvT.storage.floats + kvOff * s * dv, ldc: dv)
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP − Σ_j dP⊙P)
                    gemm(transA: false, transB: true, m: l, n: s, k: dv, a: go, lda: dv, b: vp + kvOff * s * dv,
                         ldb: dv, c: dS, ldc: s)
                    for i in 0..<l {
                        let pr = p + i * s, dr = dS + i * s
                        var dot: Float = 0
                        for j in 0..<s { dot += pr[j] * dr[j] }
                        for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
                    }
                    // dQ = scale·dS·K ; dK += scale·dSᵀ·Q
                    gemm(transA: false, transB: false, m: l, n: d, k: s, alpha: sc, a: dS, lda: s,
                         b: kp + kvOff * s * d, ldb: d, c: gq.storage.floats + bh * l * d, ldc: d)
                    gemm(transA: true, transB: false, m: s, n: d, k: l, alpha: sc, a: dS, lda: s,
                         b: qp + bh * l * d, ldb: d, beta: 1, c: gk.storage.floats + kvOff * s * d, ldc: d)
                }
            }
            return [gq, gk, gvT]
        }
    }
}
