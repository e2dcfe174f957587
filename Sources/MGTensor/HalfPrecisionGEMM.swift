import Foundation

// Products with 16-bit (bf16/f16) weights that stay in their stored dtype — memory-mapped from a checkpoint —
// and are widened inside the kernel: a few rows (decoding) stream the weights once through a SIMD dot product;
// many rows (prefill) widen one tile of weight rows at a time into a small float32 scratch and hand it to sgemm.
// A full float32 copy of the weights is never made.

/// Rows at or below this count use the streaming kernel (weights read once for all rows).
let halfGEMVMaxRows = 8
/// Weight rows widened per sgemm call on the tiled path.
let halfTileRows = 256

@inline(__always)
func widen8(_ p: UnsafeRawPointer, _ dtype: DType) -> SIMD8<Float> {
    let raw = p.loadUnaligned(as: SIMD8<UInt16>.self)
    if dtype == .bfloat16 {
        return unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: raw) &<< 16, to: SIMD8<Float>.self)
    }
    var out = SIMD8<Float>()
    for i in 0..<8 { out[i] = f16ToFloat(raw[i]) }
    return out
}

@inline(__always)
func widen1(_ p: UnsafeRawPointer, _ i: Int, _ dtype: DType) -> Float {
    let bits = p.load(fromByteOffset: i * 2, as: UInt16.self)
    return dtype == .bfloat16 ? bf16ToFloat(bits) : f16ToFloat(bits)
}

/// y[m, n] = Σ_k x[m, k] · w[n, k] for a 16-bit w [N, K] and float32 x [M, K] (row-major), written to y [M, N].
func halfWeightProduct(
    x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafeRawPointer, dtype: DType, n: Int,
    y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    if m <= halfGEMVMaxRows {
        Parallel.forEachChunk(n, costPerItem: k * m) { rows in
            for row in rows {
                let wr = w + row * k * 2
                for r in 0..<m {
                    let xr = x + r * k
                    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
                    var j = 0
                    while j + 16 <= k {
                        a0 += widen8(wr + j * 2, dtype) * UnsafeRawPointer(xr + j).loadUnaligned(as: SIMD8<Float>.self)
                        a1 +=
                            widen8(wr + (j + 8) * 2, dtype)
                            * UnsafeRawPointer(xr + j + 8).loadUnaligned(as: SIMD8<Float>.self)
                        j += 16
                    }
                    var s = (a0 + a1).sum()
                    while j < k { s += widen1(wr, j, dtype) * xr[j]; j += 1 }
                    if accumulate { y[r * n + row] += s } else { y[r * n + row] = s }
                }
            }
        }
        return
    }
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: halfTileRows * k)
    defer { tile.deallocate() }
    var start = 0
    while start < n {
        let rows = Swift.min(halfTileRows, n - start)
        widenRows(w + start * k * 2, dtype, rows * k, into: tile)
        gemm(
            transA: false, transB: true, m: m, n: rows, k: k, a: x, lda: k, b: tile, ldb: k,
            beta: accumulate ? 1 : 0, c: y + start, ldc: n)
        start += rows
    }
}

/// gx[m, k] += Σ_n g[m, n] · w[n, k]: the input gradient through a 16-bit weight (frozen towers, frozen LLM).
func halfWeightTransposedProduct(
    g: UnsafePointer<Float>, m: Int, n: Int, w: UnsafeRawPointer, dtype: DType, k: Int,
    gx: UnsafeMutablePointer<Float>
) {
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: halfTileRows * k)
    defer { tile.deallocate() }
    var start = 0
    while start < n {
        let rows = Swift.min(halfTileRows, n - start)
        widenRows(w + start * k * 2, dtype, rows * k, into: tile)
        gemm(
            transA: false, transB: false, m: m, n: k, k: rows, a: g + start, lda: n, b: tile, ldb: k,
            beta: 1, c: gx, ldc: k)
        start += rows
    }
}

/// Widens `count` 16-bit values into float32.
func widenRows(_ src: UnsafeRawPointer, _ dtype: DType, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
    Parallel.forEachChunk(count / 8, costPerItem: 8) { r in
        for i in r {
            UnsafeMutableRawPointer(dst + i * 8).storeBytes(of: widen8(src + i * 16, dtype), as: SIMD8<Float>.self)
        }
    }
    for i in (count / 8 * 8)..<count { dst[i] = widen1(src, i, dtype) }
}
