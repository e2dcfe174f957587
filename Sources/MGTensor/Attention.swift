import CKernels
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
        precondition(
            q.rank == 4 && k.rank == 4 && v.rank == 4, "sdpa: q \(q.shape), k \(k.shape), v \(v.shape) must be 4-D")
        let b = q.shape[0], h = q.shape[1], l = q.shape[2], d = q.shape[3]
        let hkv = k.shape[1], capacity = k.shape[2], dv = v.shape[3]
        let s = keyLength ?? capacity
        precondition(s >= 0 && s <= capacity, "sdpa: key length \(s) beyond the \(capacity) cached positions")
        precondition(keyLength == nil || !wouldRecord(q, k, v), "sdpa: keyLength (KV cache) is inference-only")
        precondition(
            k.shape[0] == b && v.shape[0] == b && k.shape[3] == d && v.shape[1] == hkv && v.shape[2] == capacity,
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
            precondition(
                mask.rank <= 4 && broadcastShapes(mask.shape, [b, h, l, s]) == [b, h, l, s],
                "sdpa: mask \(mask.shape) does not broadcast to [\(b), \(h), \(l), \(s)]")
            maskData = mask.float()
            ms = broadcastStrides(mask.shape, to: [b, h, l, s])
        }
        let qp = qf.storage.floats, kp = kf.storage.floats, vp = vf.storage.floats
        let pp = probs.storage.floats, op = out.storage.floats
        let mp = maskData?.storage.floats
        let layout = AttentionLayout(b: b, h: h, hkv: hkv, l: l, capacity: capacity, d: d, dv: dv, tokensMajor: false)
        attentionForward(
            layout, s: s, scale: sc, qp: qp, kp: kp, vp: vp, probs: pp, out: op, mask: mp, maskStrides: ms,
            isCausal: isCausal, causalOffset: causalOffset, slidingWindow: slidingWindow)
        let qv = qf.detached(), kv = kf.detached(), vv = vf.detached()
        return record("sdpa", out, inputs: [q, k, v]) { g in
            let gq = Tensor.uninitialized(qv.shape), gk = Tensor.zeros(kv.shape), gv = Tensor.zeros(vv.shape)
            attentionBackward(
                layout, s: s, scale: sc, qp: qv.storage.floats, kp: kv.storage.floats,
                vp: vv.storage.floats, probs: probs.storage.floats, gradOut: g.float().storage.floats,
                gq: gq.storage.floats, gk: gk.storage.floats, gv: gv.storage.floats)
            return [gq, gk, gv]
        }
    }
}

/// The backward of `attentionForward` (head-major layout) from the saved probabilities P:
/// dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − Σ_j dP⊙P), dQ = scale·dS·K, dK += scale·dSᵀ·Q.
/// `gk` and `gv` must hold zeros. The query heads sharing a key/value head accumulate into it in head order, so
/// the work is split over (batch, key/value head) pairs, each single-threaded BLAS as in the forward.
func attentionBackward(
    _ a: AttentionLayout, s: Int, scale: Float, qp: UnsafePointer<Float>, kp: UnsafePointer<Float>,
    vp: UnsafePointer<Float>, probs: UnsafePointer<Float>, gradOut gp: UnsafePointer<Float>,
    gq: UnsafeMutablePointer<Float>, gk: UnsafeMutablePointer<Float>,
    gv: UnsafeMutablePointer<Float>
) {
    let group = a.h / a.hkv, l = a.l, d = a.d, dv = a.dv
    Parallel.forEachWithSerialBLAS(a.b * a.hkv) { pair in
        let bi = pair / a.hkv, kvh = pair % a.hkv
        let kvOff = bi * a.hkv + kvh
        let dS = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(l * s, 1))
        defer { dS.deallocate() }
        for hi in (kvh * group)..<((kvh + 1) * group) {
            let bh = bi * a.h + hi
            let p = probs + bh * l * s, go = gp + bh * l * dv
            gemm(
                transA: true, transB: false, m: s, n: dv, k: l, a: p, lda: s, b: go, ldb: dv,
                beta: 1, c: gv + kvOff * s * dv, ldc: dv)
            gemm(
                transA: false, transB: true, m: l, n: s, k: dv, a: go, lda: dv, b: vp + kvOff * s * dv,
                ldb: dv, c: dS, ldc: s)
            for i in 0..<l {
                let pr = p + i * s, dr = dS + i * s
                var dot: Float = 0
                for j in 0..<s { dot += pr[j] * dr[j] }
                for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
            }
            gemm(
                transA: false, transB: false, m: l, n: d, k: s, alpha: scale, a: dS, lda: s,
                b: kp + kvOff * s * d, ldb: d, c: gq + bh * l * d, ldc: d)
            gemm(
                transA: true, transB: false, m: s, n: d, k: l, alpha: scale, a: dS, lda: s,
                b: qp + bh * l * d, ldb: d, beta: 1, c: gk + kvOff * s * d, ldc: d)
        }
    }
}

/// Where each (batch, head) slice lives: head-major [B, H, L, D] (rows of D) or token-major [B, L, H·D] (rows of
/// H·D, head h at column h·D — the layout the q/k/v projections produce, so no transpose is needed).
struct AttentionLayout {
    var b, h, hkv, l, capacity, d, dv: Int
    var tokensMajor: Bool

    func q(_ bi: Int, _ hi: Int) -> (offset: Int, ld: Int) {
        tokensMajor ? (bi * l * h * d + hi * d, h * d) : ((bi * h + hi) * l * d, d)
    }
    func k(_ bi: Int, _ kvh: Int) -> (offset: Int, ld: Int) {
        tokensMajor ? (bi * capacity * hkv * d + kvh * d, hkv * d) : ((bi * hkv + kvh) * capacity * d, d)
    }
    func v(_ bi: Int, _ kvh: Int) -> (offset: Int, ld: Int) {
        tokensMajor ? (bi * capacity * hkv * dv + kvh * dv, hkv * dv) : ((bi * hkv + kvh) * capacity * dv, dv)
    }
    func o(_ bi: Int, _ hi: Int) -> (offset: Int, ld: Int) {
        tokensMajor ? (bi * l * h * dv + hi * dv, h * dv) : ((bi * h + hi) * l * dv, dv)
    }
}

/// Scores, masks, softmax and the weighted sum for every (batch, head). With `probs` [B, H, L, s], every
/// probability is kept for the backward pass; without (inference), each head runs in blocks of query rows whose
/// scores stay in cache — no L × s matrix per head is written out and read back (at OWLv2's 3,601–5,185 tokens
/// that traffic, not the GEMMs, dominated), and no B·H·L·s buffer is allocated.
func attentionForward(
    _ a: AttentionLayout, s: Int, scale: Float, qp: UnsafePointer<Float>, kp: UnsafePointer<Float>,
    vp: UnsafePointer<Float>, probs pp: UnsafeMutablePointer<Float>?, out op: UnsafeMutablePointer<Float>,
    mask mp: UnsafeMutablePointer<Float>?, maskStrides ms: [Int], isCausal: Bool, causalOffset: Int,
    slidingWindow: Int?, biases: [(values: UnsafeMutablePointer<Float>, strides: [Int])] = []
) {
    let group = a.h / a.hkv, l = a.l
    // Query rows per block when the probabilities are not kept: ~4 MiB of scores per thread (at least 16 rows).
    // Measured on OWLv2-B/16 (3,601 tokens): 256 KiB blocks lose GEMM efficiency (short m), full L × s rows lose
    // to memory traffic; 1–8 MiB were alike.
    let block = pp == nil ? Swift.min(l, Swift.max(16, 1_048_576 / Swift.max(s, 1))) : l
    // Heads in parallel, each with single-threaded BLAS: the products are small and the softmax between them
    // would otherwise fight OpenBLAS's spinning workers for the cores.
    Parallel.forEachWithSerialBLAS(a.b * a.h) { bh in
        let bi = bh / a.h, hi = bh % a.h
        let kvh = hi / group
        let (qo, ldq) = a.q(bi, hi), (ko, ldk) = a.k(bi, kvh), (vo, ldv) = a.v(bi, kvh), (oo, ldo) = a.o(bi, hi)
        let scratch = pp == nil ? UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(block * s, 1)) : nil
        defer { scratch?.deallocate() }
        for first in stride(from: 0, to: l, by: Swift.max(block, 1)) {
            let rows = Swift.min(block, l - first)
            guard let scores = scratch ?? pp.map({ $0 + bh * l * s }) else { return }
            if rows == 1 {
                // One query row (decoding): the cache streams once through a plain dot-product kernel, faster than
                // BLAS's gemv on these short rows.
                mg_attention_scores_f32(qp + qo + first * ldq, kp + ko, ldk, s, a.d, scale, scores)
            } else {
                gemm(
                    transA: false, transB: true, m: rows, n: s, k: a.d, alpha: scale,
                    a: qp + qo + first * ldq, lda: ldq, b: kp + ko, ldb: ldk, c: scores, ldc: s)
            }
            for r in 0..<rows {
                let i = first + r, row = scores + r * s
                for (values, bs) in biases {
                    let brow = values + bi * bs[0] + hi * bs[1] + i * bs[2]
                    if bs[3] == 1 {
                        for j in 0..<s { row[j] += brow[j] }
                    } else {
                        for j in 0..<s { row[j] += brow[j * bs[3]] }
                    }
                }
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
            if rows == 1 {
                mg_attention_values_f32(scores, vp + vo, ldv, s, a.dv, op + oo + first * ldo)
            } else {
                gemm(
                    transA: false, transB: false, m: rows, n: a.dv, k: s, a: scores, lda: s, b: vp + vo, ldb: ldv,
                    c: op + oo + first * ldo, ldc: ldo)
            }
        }
    }
}

extension Tensor {
    /// Attention on the projections' own token-major layout — q [B, L, H·D], k and v [B, S, Hkv·D] — returning
    /// [B, L, H·Dv]: no transposes in or out. Same semantics as `scaledDotProductAttention`; inference only (it
    /// records no gradient; use the head-major form for training).
    ///
    /// `additiveBiases`: float tensors broadcastable to [B, H, L, S] added to the scaled scores before the mask and
    /// the softmax (Swin's relative-position bias and shifted-window mask).
    public static func scaledDotProductAttention(
        tokensMajorQuery q: Tensor, key k: Tensor, value v: Tensor, heads: Int, keyValueHeads: Int,
        mask: Tensor? = nil, isCausal: Bool = false, causalOffset: Int = 0, scale: Float? = nil,
        additiveBiases: [Tensor] = []
    ) -> Tensor {
        precondition(!wouldRecord(q, k, v), "sdpa (token-major) is inference-only: use the head-major form to train")
        precondition(
            q.rank == 3 && k.rank == 3 && v.rank == 3 && heads > 0 && keyValueHeads > 0 && heads % keyValueHeads == 0,
            "sdpa (token-major): q \(q.shape), k \(k.shape), v \(v.shape), \(heads)/\(keyValueHeads) heads")
        let b = q.shape[0], l = q.shape[1], d = q.shape[2] / heads, s = k.shape[1], dv = v.shape[2] / keyValueHeads
        precondition(
            q.shape[2] == heads * d && k.shape[0] == b && v.shape[0] == b && k.shape[2] == keyValueHeads * d
                && v.shape[1] == s && v.shape[2] == keyValueHeads * dv, "sdpa (token-major): incompatible shapes")
        var maskData: Tensor? = nil
        var ms = [0, 0, 0, 0]
        if let mask {
            precondition(
                mask.rank <= 4 && broadcastShapes(mask.shape, [b, heads, l, s]) == [b, heads, l, s],
                "sdpa: mask \(mask.shape) does not broadcast to [\(b), \(heads), \(l), \(s)]")
            maskData = mask.float()
            ms = broadcastStrides(mask.shape, to: [b, heads, l, s])
        }
        let biases = additiveBiases.map { bias -> (Tensor, [Int]) in
            precondition(
                bias.rank <= 4 && broadcastShapes(bias.shape, [b, heads, l, s]) == [b, heads, l, s],
                "sdpa: additive bias \(bias.shape) does not broadcast to [\(b), \(heads), \(l), \(s)]")
            return (bias.float(), broadcastStrides(bias.shape, to: [b, heads, l, s]))
        }
        let qf = q.float(), kf = k.float(), vf = v.float()
        let out = Tensor.uninitialized([b, l, heads * dv])
        let layout = AttentionLayout(
            b: b, h: heads, hkv: keyValueHeads, l: l, capacity: s, d: d, dv: dv, tokensMajor: true)
        attentionForward(
            layout, s: s, scale: scale ?? 1 / Float(d).squareRoot(), qp: qf.storage.floats,
            kp: kf.storage.floats, vp: vf.storage.floats, probs: nil, out: out.storage.floats,
            mask: maskData?.storage.floats, maskStrides: ms, isCausal: isCausal, causalOffset: causalOffset,
            slidingWindow: nil, biases: biases.map { ($0.0.storage.floats, $0.1) })
        return out
    }
}
