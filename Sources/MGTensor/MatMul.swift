import Foundation
import COpenBLAS

// Matrix products on OpenBLAS. M = 1 (decoding) and N = 1 go through sgemv: OpenBLAS's sgemm with a single row is
// several times slower than its gemv on this kind of machine.

/// C[M,N] = alpha · op(A) · op(B) + beta · C, row-major; op(A) is [M,K], op(B) is [K,N].
@inlinable
public func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    // OpenBLAS's gemv scales y by beta, and 0·NaN is NaN: clear y first so uninitialised outputs are safe.
    if (m == 1 || n == 1) && beta == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } }
    }
    if m == 1 && ldc >= n {
        // y[N] = op(B)ᵀ-ish · x: with B stored [N,K] (transB) y = B·x, else y = Bᵀ·x with B stored [K,N].
        let incx = transA ? lda : 1
        if transB {
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, Int32(incx), beta, c, 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, Int32(incx), beta, c, 1)
        }
        return
    }
    if n == 1 {
        // y[M] = op(A) · x, x = the single column of op(B), written with stride ldc.
        let incx = transB ? 1 : ldb
        if transA {
            cblas_sgemv(
                CblasRowMajor, CblasTrans, Int32(k), Int32(m), alpha, a, Int32(lda), b, Int32(incx), beta, c, Int32(ldc)
            )
        } else {
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda), b, Int32(incx), beta, c,
                Int32(ldc))
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

extension Tensor {
    /// Batched matrix product with optional transposes of the last two dims.
    ///
    /// `self` is [..., M, K] ([..., K, M] with `transposeA`), `other` [..., K, N] ([..., N, K] with `transposeB`).
    /// Batch dims must be equal, or one operand is 2-D and is shared by every batch.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs rank ≥ 2 operands, got \(shape) and \(other.shape)")
        var a = self, b = other
        // A shared 2-D right operand with untransposed A: fold A's batch into M (one big GEMM).
        if b.rank == 2 && a.rank > 2 && !transposeA {
            let lead = Array(a.shape.dropLast())
            let flat = a.reshaped([-1, a.shape[a.rank - 1]])
            let out = flat.matmul(b, transposeB: transposeB)
            return out.reshaped(lead + [out.shape[1]])
        }
        if a.rank != b.rank {
            if a.rank == 2 {
                a = a.expanded(to: Array(b.shape.dropLast(2)) + a.shape)
            } else if b.rank == 2 {
                b = b.expanded(to: Array(a.shape.dropLast(2)) + b.shape)
            }
        }
        let batchShape = Array(a.shape.dropLast(2))
        precondition(
            batchShape == Array(b.shape.dropLast(2)), "matmul: batch dims of \(shape) and \(other.shape) differ")
        let ar = a.shape[a.rank - 2], ac = a.shape[a.rank - 1]
        let br = b.shape[b.rank - 2], bc = b.shape[b.rank - 1]
        let m = transposeA ? ac : ar, k = transposeA ? ar : ac
        let kb = transposeB ? bc : br, n = transposeB ? br : bc
        precondition(
            k == kb,
            "matmul: inner dims differ: \(shape)\(transposeA ? "ᵀ" : "") × \(other.shape)\(transposeB ? "ᵀ" : "")")
        let batch = batchShape.reduce(1, *)
        let out = Tensor.uninitialized(batchShape + [m, n])
        let fa = a.float(), fb = b.float()
        let pa = fa.storage.floats, pb = fb.storage.floats, pc = out.storage.floats
        for i in 0..<batch {
            gemm(
                transA: transposeA, transB: transposeB, m: m, n: n, k: k,
                a: pa + i * ar * ac, lda: ac, b: pb + i * br * bc, ldb: bc, c: pc + i * m * n, ldc: n)
        }
        let av = a.detached(), bv = b.detached()
        let needA = a.requiresGrad, needB = b.requiresGrad
        return Tensor.record("matmul", out, inputs: [a, b]) { g in
            var ga: Tensor? = nil, gb: Tensor? = nil
            switch (transposeA, transposeB) {
            case (false, false):
                if needA { ga = g.matmul(bv, transposeB: true) }
                if needB { gb = av.matmul(g, transposeA: true) }
            case (true, false):
                if needA { ga = bv.matmul(g, transposeB: true) }
                if needB { gb = av.matmul(g) }
            case (false, true):
                if needA { ga = g.matmul(bv) }
                if needB { gb = g.matmul(av, transposeA: true) }
            case (true, true):
                if needA { ga = bv.matmul(g, transposeA: true, transposeB: true) }
                if needB { gb = g.matmul(av, transposeA: true, transposeB: true) }
            }
            return [ga, gb]
        }
    }

    /// y = x·Wᵀ + b for x [..., in], weight [out, in] (PyTorch layout), bias [out].
    /// One GEMM over all leading dims; the bias is written first and accumulated into (beta = 1). A bf16/f16 weight
    /// (memory-mapped, frozen) is widened inside the product, never copied whole; it takes no gradient.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let inFeatures = shape.last ?? 0
        precondition(
            weight.rank == 2 && weight.shape[1] == inFeatures,
            "linear: input \(shape) with weight \(weight.shape) (expects [out, \(inFeatures)])")
        let outFeatures = weight.shape[0]
        if let bias {
            precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) for \(outFeatures) outputs")
        }
        // 16-bit and block-quantized weights are read as stored (frozen: they take no gradient themselves).
        let halfWeight = weight.dtype == .bfloat16 || weight.dtype == .float16 || weight.dtype.isBlockQuantized
        precondition(
            !halfWeight || !weight.requiresGrad,
            "linear: a \(weight.dtype.rawValue) weight cannot take gradients (keep it frozen)")
        let x = float()
        let w = halfWeight ? weight : weight.float()
        let rows = count / Swift.max(inFeatures, 1)
        let lead = Array(shape.dropLast())
        let out = Tensor.uninitialized(lead + [outFeatures])
        let pc = out.storage.floats
        var beta: Float = 0
        if let bias {
            let b = bias.float()  // a named local keeps a widened copy alive while its pointer is used
            let pb = b.storage.floats
            for r in 0..<rows { (pc + r * outFeatures).update(from: pb, count: outFeatures) }
            beta = 1
        }
        if halfWeight {
            let recorded = GradMode.isEnabled && (requiresGrad || weight.requiresGrad || bias?.requiresGrad == true)
            halfWeightProduct(
                x: x.storage.floats, m: rows, k: inFeatures, w: w.storage.pointer, dtype: w.dtype,
                n: outFeatures, y: pc, accumulate: beta == 1, recorded: recorded)
        } else {
            gemm(
                transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                a: x.storage.floats, lda: inFeatures, b: w.storage.floats, ldb: inFeatures,
                beta: beta, c: pc, ldc: outFeatures)
        }
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        let needX = requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        // Save only what the backward reads: a frozen weight's product needs no input (a frozen LLM in
        // pretraining would otherwise keep every linear's input alive until backward).
        let xv: Tensor? = needW ? x.detached() : nil
        let wv = w.detached()
        let inShape = shape
        return Tensor.record("linear", out, inputs: inputs) { g in
            let g2 = g.reshaped([rows, outFeatures])
            var gx: Tensor? = nil
            if needX {
                if halfWeight {
                    let t = Tensor.zeros([rows, inFeatures])
                    halfWeightTransposedProduct(
                        g: g2.storage.floats, m: rows, n: outFeatures, w: wv.storage.pointer,
                        dtype: wv.dtype, k: inFeatures, gx: t.storage.floats)
                    gx = t.reshaped(inShape)
                } else {
                    gx = g2.matmul(wv).reshaped(inShape)  // [rows, in]
                }
            }
            let gw = xv.map { g2.matmul($0.reshaped([rows, inFeatures]), transposeA: true) }  // [out, in]
            var grads: [Tensor?] = [gx, gw]
            if bias != nil { grads.append(needB ? g2.sum(axis: 0) : nil) }
            return grads
        }
    }
}
