import CKernels
import Foundation

// Products with 16-bit (bf16/f16) weights that stay in their stored dtype — memory-mapped from a checkpoint —
// and are widened inside the kernel (CKernels' half.c and bf16dot.c, AVX-512/AVX2 chosen at run time). A few
// rows (decoding) stream each weight row once through a dot product for all of them, the two cores reading
// disjoint row ranges; many rows (prefill) run `vdpbf16ps` tiles straight from the bf16 rows (CPUs with
// AVX512-BF16, the `.bf16` kernel), float32 register tiles that widen as they load (AVX-512), or widen blocks of
// weight rows into a float32 scratch for sgemm (other CPUs). A full float32 copy of the
// weights is never made.

/// Rows at or below this count use the streaming kernels (weights read once for all rows).
let halfGEMVMaxRows = 8
/// Float32 values of widened weight rows per sgemm call on the widening path (16 MiB): large enough that
/// sgemm's packing of the prompt rows is repeated only a few times per product.
let halfTileValues = 1 << 22
/// Chunks per thread of a decoding product (see `Parallel.forEachChunk`): with 8, a core slowed by another
/// process no longer holds the other one up at each of a 7B decode step's 225 products (+5–10 % tokens/s here).
let decodeChunks = 8
/// Weight rows widened per sgemm call in the input-gradient product (training; unchanged so that training's
/// numbers stay as they were).
let halfGradientTileRows = 256

/// How products with 16-bit weights treat the float32 activations (see `HalfPrecision.kernel`).
public enum HalfPrecisionKernel: Sendable, Equatable {
    /// Weights widened to float32 inside the kernel (decoding) or a block at a time for sgemm (prefill): float32
    /// products throughout.
    case widenedFloat32
    /// AVX512-BF16 dot products on the stored bf16 rows with each activation split into two bf16 terms (value
    /// and rounding remainder, 16 significant bits): float32-like results (relative error ~1e-5).
    case bf16Split
    /// Activations rounded to the weights' 16-bit type, as PyTorch and llama.cpp compute a 16-bit model: for bf16
    /// weights AVX512-BF16 dot products (the fastest, relative error ~4e-3 per activation); for f16 weights f16
    /// activations widened in registers beside the weights (llama.cpp's F16 path; ~5e-4 per activation), whose
    /// halved activation bytes let decoding stream at the read bandwidth.
    case bf16
}

extension HalfPrecisionKernel {
    /// The name on the command line: "split", "bf16" or "f32".
    public var flag: String {
        switch self {
        case .bf16Split: "split"
        case .bf16: "bf16"
        case .widenedFloat32: "f32"
        }
    }

    /// Parses `flag` ("split", "bf16", "f32"); anything else is an error naming the value and the choices.
    public init(flag: String) throws {
        switch flag {
        case "split": self = .bf16Split
        case "bf16": self = .bf16
        case "f32": self = .widenedFloat32
        default: throw HalfPrecisionKernelError(value: flag)
        }
    }
}

/// An unknown kernel name.
public struct HalfPrecisionKernelError: Error, CustomStringConvertible {
    public var value: String
    public var description: String { "unknown 16-bit kernel \"\(value)\" (expected split, bf16 or f32)" }
}

/// The kernel choice for 16-bit weights.
public enum HalfPrecision {
    /// Whether this CPU has AVX512-BF16 (the `.bf16Split`/`.bf16` kernels need it).
    public static var hasBF16Dot: Bool { mg_kernels_have_bf16_dot() != 0 }

    /// The kernel for 16-bit weights in products that record no graph (inference), chosen at run time: `.bf16` on a
    /// CPU with AVX512-BF16 — activations rounded to bf16 as PyTorch and llama.cpp compute a bf16 model, about twice
    /// the widened prefill's speed and at the read bound when decoding — else `.widenedFloat32`. `.widenedFloat32`
    /// (`--bf16-kernel f32`) keeps float32 numbers everywhere; `.bf16Split` float32-like numbers at the float32
    /// rate. Products recorded for a backward pass (a frozen bf16 LLM in training) and checkpointed forwards always
    /// widen, so training's numbers do not depend on this setting; float32 weights never use it, f16 weights only
    /// with `.bf16` (f16 activations; `.bf16Split` keeps float32 for them).
    nonisolated(unsafe) public static var kernel: HalfPrecisionKernel = defaultKernel

    /// `.bf16` where the CPU has AVX512-BF16, else `.widenedFloat32`.
    public static var defaultKernel: HalfPrecisionKernel { hasBF16Dot ? .bf16 : .widenedFloat32 }

    /// Set while a checkpointed forward runs without a graph: its products must equal the recomputation's.
    @TaskLocal static var keepsFloat32 = false
}

/// y[m, n] = Σ_k x[m, k] · w[n, k] for a 16-bit w [N, K] and float32 x [M, K] (row-major), written to y [M, N].
/// `recorded`: the product is part of a graph (training), which keeps float32 arithmetic.
func halfWeightProduct(
    x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafeRawPointer, dtype: DType, n: Int,
    y: UnsafeMutablePointer<Float>, accumulate: Bool, recorded: Bool = false
) {
    if dtype.isBlockQuantized && !recorded {
        quantizedWeightProduct(x: x, m: m, k: k, w: w, dtype: dtype, n: n, y: y, accumulate: accumulate)
        return
    }
    let wh = w.assumingMemoryBound(to: UInt16.self)
    let kernel = HalfPrecision.kernel
    if dtype == .bfloat16 && !recorded && !HalfPrecision.keepsFloat32 && kernel != .widenedFloat32
        && HalfPrecision.hasBF16Dot
    {
        let terms = kernel == .bf16Split ? 2 : 1
        let xb = UnsafeMutablePointer<UInt16>.allocate(capacity: m * terms * k)
        defer { xb.deallocate() }
        Parallel.forEachChunk(m, costPerItem: k) { r in
            mg_bf16_split(x + r.lowerBound * k, r.count, k, terms, xb + r.lowerBound * terms * k)
        }
        // The cores take disjoint blocks of 4 weight rows (the prefill tile's width); decoding takes them in 8 chunks
        // per core.
        Parallel.forEachChunk(
            (n + 3) / 4, costPerItem: 4 * k * m * terms, chunksPerThread: m <= halfGEMVMaxRows ? decodeChunks : 1
        ) { blocks in
            let begin = blocks.lowerBound * 4, end = Swift.min(n, blocks.upperBound * 4)
            if m <= halfGEMVMaxRows {
                mg_bf16_rows_dot(xb, terms, m, k, wh, begin, end, y, n, accumulate ? 1 : 0)
            } else {
                mg_bf16_dot_rows(xb, terms, m, k, wh, begin, end, y, n, accumulate ? 1 : 0)
            }
        }
        return
    }
    if dtype == .float16 && !recorded && !HalfPrecision.keepsFloat32 && kernel == .bf16 {
        // The 16-bit kernel for f16 weights: the activations rounded to f16, as llama.cpp computes an F16 model.
        let xh = UnsafeMutablePointer<UInt16>.allocate(capacity: m * k)
        defer { xh.deallocate() }
        Parallel.forEachChunk(m * k, costPerItem: 1) { r in mg_f16_round(x + r.lowerBound, r.count, xh + r.lowerBound) }
        if m <= halfGEMVMaxRows {
            Parallel.forEachChunk((n + 3) / 4, costPerItem: 4 * k * m, chunksPerThread: decodeChunks) { blocks in
                mg_half_rows_dot_f16x(
                    wh, 0, k, xh, m, k, blocks.lowerBound * 4, Swift.min(n, blocks.upperBound * 4), y, n,
                    accumulate ? 1 : 0)
            }
            return
        }
        // Prefill: the rounded rows widened back to float32 for the float32 tiles.
        let rounded = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        defer { rounded.deallocate() }
        Parallel.forEachChunk(m * k, costPerItem: 1) { r in
            mg_half_widen(xh + r.lowerBound, 0, r.count, rounded + r.lowerBound)
        }
        halfWeightProductFloat32(x: rounded, m: m, k: k, wh: wh, dtype: dtype, n: n, y: y, accumulate: accumulate)
        return
    }
    halfWeightProductFloat32(x: x, m: m, k: k, wh: wh, dtype: dtype, n: n, y: y, accumulate: accumulate)
}

/// The float32-activation products of `halfWeightProduct`: streaming dot products for a few rows, register tiles or
/// widened blocks for sgemm for many.
private func halfWeightProductFloat32(
    x: UnsafePointer<Float>, m: Int, k: Int, wh: UnsafePointer<UInt16>, dtype: DType, n: Int,
    y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    let w = UnsafeRawPointer(wh)
    let bf16: Int32 = dtype == .bfloat16 ? 1 : 0
    if m <= halfGEMVMaxRows && !dtype.isBlockQuantized {
        // Both cores stream disjoint blocks of 4 weight rows; each block is read once for all m prompt rows.
        Parallel.forEachChunk((n + 3) / 4, costPerItem: 4 * k * m, chunksPerThread: decodeChunks) { blocks in
            mg_half_rows_dot(
                wh, bf16, k, x, m, k, blocks.lowerBound * 4, Swift.min(n, blocks.upperBound * 4), y, n,
                accumulate ? 1 : 0)
        }
        return
    }
    if mg_half_gemm_available() != 0 && !dtype.isBlockQuantized {
        // 5 × 5 register tiles straight from the stored rows (halfgemm.c: at sgemm's rate with no widened copy);
        // the cores take disjoint blocks of 64 weight rows.
        Parallel.forEachChunk((n + 63) / 64, costPerItem: 64 * k * m) { blocks in
            mg_half_gemm(
                x, m, k, wh, bf16, blocks.lowerBound * 64, Swift.min(n, blocks.upperBound * 64), y, n,
                accumulate ? 1 : 0)
        }
        return
    }
    let tileRows = Swift.max(1, Swift.min(n, halfTileValues / Swift.max(k, 1)))
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * k)
    defer { tile.deallocate() }
    var start = 0
    while start < n {
        let rows = Swift.min(tileRows, n - start)
        widenRows(w + dtype.byteCount(for: start * k), dtype, rows * k, into: tile)
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
    let tileRows = halfGradientTileRows
    let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * k)
    defer { tile.deallocate() }
    var start = 0
    while start < n {
        let rows = Swift.min(tileRows, n - start)
        widenRows(w + dtype.byteCount(for: start * k), dtype, rows * k, into: tile)
        gemm(
            transA: false, transB: false, m: m, n: k, k: rows, a: g + start, lda: n, b: tile, ldb: k,
            beta: 1, c: gx, ldc: k)
        start += rows
    }
}

/// Widens `count` 16-bit values into float32.
func widenRows(_ src: UnsafeRawPointer, _ dtype: DType, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
    if dtype.isBlockQuantized {
        BlockQuantization.dequantize(src, dtype, count: count, into: dst)
        return
    }
    let s = src.assumingMemoryBound(to: UInt16.self)
    let bf16: Int32 = dtype == .bfloat16 ? 1 : 0
    Parallel.forEachChunk(count, costPerItem: 1) { r in
        mg_half_widen(s + r.lowerBound, bf16, r.count, dst + r.lowerBound)
    }
}
