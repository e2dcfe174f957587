import CKernels

// ggml's block-quantized weights (Q8_0, Q5_0, Q4_K, Q6_K) as llama.cpp stores them in GGUF files: quantizing,
// dequantizing, and the products of float32 activations with a quantized weight [N, K]. Inference products quantize
// the activations on the fly (Q8_0 rows for the 32-value formats, Q8_K rows for the 256-value ones) and take integer
// dot products block by block, as llama.cpp does, so the numbers match llama.cpp's rather than a float32 product's.

/// Quantizing and dequantizing ggml's block formats (the kernels are in `CKernels/quants.c`).
public enum BlockQuantization {
    /// ggml's type id (`GGML_TYPE_*`), as GGUF files record it.
    static func ggmlType(_ dtype: DType) -> Int32 {
        switch dtype {
        case .q8_0: return 8
        case .q5_0: return 6
        case .q4_K: return 12
        case .q6_K: return 14
        default: preconditionFailure("BlockQuantization: \(dtype.rawValue) is not block-quantized")
        }
    }

    /// `count` values (whole blocks) from `src` into float32, as ggml's `dequantize_row_*`.
    public static func dequantize(
        _ src: UnsafeRawPointer, _ dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let blocks = count / dtype.blockSize, type = ggmlType(dtype)
        Parallel.forEachChunk(blocks, costPerItem: dtype.blockSize) { r in
            mg_dequantize(
                type, src + r.lowerBound * dtype.blockBytes, dst + r.lowerBound * dtype.blockSize,
                r.count * dtype.blockSize)
        }
    }

    /// `count` float32 values (whole blocks) into `dtype` blocks at `dst`, bit for bit as ggml's reference
    /// quantizer (`quantize_row_*_ref`, no importance matrix).
    public static func quantize(
        _ src: UnsafePointer<Float>, count: Int, to dtype: DType, into dst: UnsafeMutableRawPointer
    ) {
        let blocks = count / dtype.blockSize, type = ggmlType(dtype)
        Parallel.forEachChunk(blocks, costPerItem: dtype.blockSize * 8) { r in
            mg_quantize(
                type, src + r.lowerBound * dtype.blockSize, dst + r.lowerBound * dtype.blockBytes,
                r.count * dtype.blockSize)
        }
    }
}

/// Decoding hands each core this many chunks of weight rows (the quantized analogue of the 16-bit `decodeChunks`).
private let quantizedDecodeChunks = 8

/// y[m, n] (+)= Σ_k x[m, k] · w[n, k] for a block-quantized w [N, K]: the activations are quantized to the weight's
/// activation format (Q8_0 or Q8_K) once, then both cores take disjoint ranges of weight rows; one prompt row
/// (decoding) streams the weight rows one at a time, a prompt runs as an int8 GEMM (AVX512-VNNI) or as tiles of
/// several weight rows × several prompt rows (`mg_quant_rows_dot`).
func quantizedWeightProduct(
    x: UnsafePointer<Float>, m: Int, k: Int, w: UnsafeRawPointer, dtype: DType, n: Int,
    y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    let type = BlockQuantization.ggmlType(dtype)
    let activationType = mg_quant_activation_type(type)
    let rowBytes = Int(mg_quant_row_bytes(activationType, k))
    let xq = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(m * rowBytes, 1), alignment: 64)
    defer { xq.deallocate() }
    Parallel.forEachChunk(m, costPerItem: k) { r in
        for row in r { mg_quantize_activation(activationType, x + row * k, xq + row * rowBytes, k) }
    }
    // With a bias already in y, the products go to a scratch and are added (the kernels write, never add).
    let out = accumulate ? UnsafeMutablePointer<Float>.allocate(capacity: m * n) : y
    defer { if accumulate { out.deallocate() } }
    let decoding = m <= 8
    Parallel.forEachChunk(
        (n + 3) / 4, costPerItem: 4 * k * m, chunksPerThread: decoding ? quantizedDecodeChunks : 1
    ) { blocks in
        mg_quant_rows_dot(
            type, w, k, xq, m, blocks.lowerBound * 4, Swift.min(n, blocks.upperBound * 4), out, n)
    }
    if accumulate {
        Parallel.forEachChunk(m, costPerItem: n) { r in
            for i in (r.lowerBound * n)..<(r.upperBound * n) { y[i] += out[i] }
        }
    }
}
