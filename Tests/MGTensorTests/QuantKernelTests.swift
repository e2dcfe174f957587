import CKernels
import XCTest
@testable import MGTensor

/// The block-quantized kernels (CKernels/quants.c) at every vector level against a double-precision reference built
/// from the dequantized blocks, and the Tensor paths that use them.
final class QuantKernelTests: XCTestCase {
    override func tearDown() {
        mg_quant_limit_level(2)
        super.tearDown()
    }

    let weightTypes: [DType] = [.q8_0, .q5_0, .q4_K, .q6_K]

    /// The decode GEMV (K-quants, fewer than 8 activation rows): a row range that starts mid-matrix, a K beyond the
    /// kernel's stack buffer, and every row count from 1 to 7 give each activation row's result bit for bit as the
    /// row alone, and the whole product the dequantized reference.
    func testDecodeRowRangesAndLongRowsEqualRowsAlone() {
        var gen = Generator(seed: 67)
        for dtype in [DType.q4_K, .q6_K] {
            let type = BlockQuantization.ggmlType(dtype)
            let activation = mg_quant_activation_type(type)
            let k = 256 * 70, n = 11
            let w = Tensor.randn([n, k], generator: &gen).converted(to: dtype)
            let rowBytes = Int(mg_quant_row_bytes(activation, k))
            let x = Tensor.randn([7, k], generator: &gen).toArray()
            var xq = [UInt8](repeating: 0, count: 7 * rowBytes)
            for r in 0..<7 {
                xq.withUnsafeMutableBytes {
                    mg_quantize_activation(
                        activation, Array(x[(r * k)..<((r + 1) * k)]), $0.baseAddress! + r * rowBytes, k)
                }
            }
            func product(rows m: Int, first: Int = 0, from begin: Int, to end: Int) -> [Float] {
                var y = [Float](repeating: .nan, count: m * n)
                w.storage.pointer.withMemoryRebound(to: UInt8.self, capacity: w.storage.byteCount) { wp in
                    xq.withUnsafeBytes { a in
                        mg_quant_rows_dot(type, wp, k, a.baseAddress! + first * rowBytes, m, begin, end, &y, n)
                    }
                }
                return y
            }
            let alone = (0..<7).map { product(rows: 1, first: $0, from: 0, to: n) }
            for m in 1...7 {
                let y = product(rows: m, from: 3, to: n)
                for r in 0..<m {
                    XCTAssertTrue(
                        y[(r * n)..<(r * n + 3)].allSatisfy(\.isNaN), "\(dtype) m \(m): rows before the range")
                    XCTAssertEqual(
                        Array(y[(r * n + 3)..<((r + 1) * n)]), Array(alone[r][3...]), "\(dtype) m \(m) row \(r)")
                }
            }
            let wd = w.float().toArray()
            var xd = [Float](repeating: 0, count: k)
            xq.withUnsafeBytes { mg_dequantize(activation, $0.baseAddress!, &xd, k) }
            for c in 0..<n {
                var s = 0.0, scale = 0.0
                for j in 0..<k {
                    s += Double(wd[c * k + j]) * Double(xd[j])
                    scale += abs(Double(wd[c * k + j]) * Double(xd[j]))
                }
                XCTAssertEqual(Double(alone[0][c]), s, accuracy: 1e-5 * scale, "\(dtype) col \(c)")
            }
        }
    }

    /// Dequantized values of `count` floats quantized to ggml type `type`.
    func roundTrip(_ x: [Float], type: Int32) -> [Float] {
        let bytes = Int(mg_quant_row_bytes(type, x.count))
        var q = [UInt8](repeating: 0, count: bytes)
        var y = [Float](repeating: 0, count: x.count)
        mg_quantize_activation(type, x, &q, x.count)
        mg_dequantize(type, q, &y, x.count)
        return y
    }

    func testRowsDotAtEveryLevelAgainstDequantizedDoubles() {
        var gen = Generator(seed: 61)
        for dtype in weightTypes {
            let type = BlockQuantization.ggmlType(dtype)
            let activation = mg_quant_activation_type(type)
            for (k, n) in [(dtype.blockSize, 5), (dtype.blockSize * 3, 9), (2048, 4)] {
                let w = Tensor.randn([n, k], generator: &gen).converted(to: dtype)
                let wd = w.float().toArray()
                for m in [1, 3, 4, 5, 9] {
                    let x = Tensor.randn([m, k], generator: &gen).toArray()
                    let rowBytes = Int(mg_quant_row_bytes(activation, k))
                    var xq = [UInt8](repeating: 0, count: m * rowBytes)
                    var xd = [Float]()
                    for r in 0..<m {
                        let row = Array(x[(r * k)..<((r + 1) * k)])
                        xq.withUnsafeMutableBytes {
                            mg_quantize_activation(activation, row, $0.baseAddress! + r * rowBytes, k)
                        }
                        xd += roundTrip(row, type: activation)
                    }
                    for level in [2, 1, 0] {
                        mg_quant_limit_level(Int32(level))
                        var y = [Float](repeating: .nan, count: m * n)
                        w.storage.pointer.withMemoryRebound(to: UInt8.self, capacity: w.storage.byteCount) { wp in
                            mg_quant_rows_dot(type, wp, k, xq, m, 0, n, &y, n)
                        }
                        for r in 0..<m {
                            for c in 0..<n {
                                var s = 0.0, scale = 0.0
                                for j in 0..<k {
                                    let t = Double(wd[c * k + j]) * Double(xd[r * k + j])
                                    s += t
                                    scale += abs(t)
                                }
                                XCTAssertEqual(
                                    Double(y[r * n + c]), s, accuracy: 1e-5 * scale + 1e-6,
                                    "\(dtype) level \(level) k \(k) m \(m) row \(r) col \(c)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Dequantized weights stay within each format's step of the original values.
    func testQuantizeDequantizeErrorIsBounded() {
        var gen = Generator(seed: 62)
        let x = Tensor.randn([4, 512], generator: &gen)
        // Worst absolute error for N(0, 1) rows of 512 (max |x| ≈ 3.5) per format: about half a step (a whole one for
        // Q5_0, whose scale maps the block maximum to −16 so the other sign reaches only 15).
        for (dtype, bound) in [(DType.q8_0, 0.02), (.q5_0, 0.25), (.q4_K, 0.35), (.q6_K, 0.07)] as [(DType, Double)] {
            let y = x.converted(to: dtype)
            XCTAssertEqual(y.storage.byteCount, 4 * 512 / dtype.blockSize * dtype.blockBytes)
            let back = y.float().toArray(), original = x.toArray()
            let worst = zip(back, original).map { Double(abs($0 - $1)) }.max() ?? .infinity
            XCTAssertLessThan(worst, bound, "\(dtype)")
            XCTAssertGreaterThan(worst, 0, "\(dtype) quantizes")
        }
    }

    /// `linear` with a quantized weight: the product of the dequantized weight with the quantized-then-dequantized
    /// input (what the integer kernels compute), a bias added, batched rows equal to rows alone.
    func testLinearWithQuantizedWeights() {
        var gen = Generator(seed: 63)
        for dtype in weightTypes {
            let k = dtype.blockSize * 2, n = 7
            let w = Tensor.randn([n, k], generator: &gen).converted(to: dtype)
            let b = Tensor.randn([n], generator: &gen)
            let x = Tensor.randn([6, k], generator: &gen)
            let y = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
            let activation = mg_quant_activation_type(BlockQuantization.ggmlType(dtype))
            let wd = w.float().toArray(), bias = b.toArray()
            for r in 0..<6 {
                let xr = roundTrip(Array(x.toArray()[(r * k)..<((r + 1) * k)]), type: activation)
                for c in 0..<n {
                    var s = Double(bias[c]), scale = abs(Double(bias[c]))
                    for j in 0..<k {
                        s += Double(wd[c * k + j]) * Double(xr[j])
                        scale += abs(Double(wd[c * k + j]) * Double(xr[j]))
                    }
                    XCTAssertEqual(Double(y[r * n + c]), s, accuracy: 1e-5 * scale, "\(dtype) row \(r) col \(c)")
                }
                let alone = withNoGrad { x.slice(axis: 0, r, r + 1).linear(weight: w, bias: b) }.toArray()
                XCTAssertEqual(alone, Array(y[(r * n)..<((r + 1) * n)]), "\(dtype) row \(r) alone")
            }
        }
    }

    /// An embedding table stored quantized gives the dequantized rows.
    func testQuantizedEmbeddingRows() {
        var gen = Generator(seed: 64)
        let table = Tensor.randn([10, 256], generator: &gen).converted(to: .q4_K)
        let rows = withNoGrad { table.embedding([3, 0, 9, 3], shape: [4]) }.toArray()
        let full = table.float().toArray()
        for (i, id) in [3, 0, 9, 3].enumerated() {
            XCTAssertEqual(Array(rows[(i * 256)..<((i + 1) * 256)]), Array(full[(id * 256)..<((id + 1) * 256)]))
        }
    }

    /// A long prompt runs as an int8 GEMM (16-row weight panels, activations in L2-sized slices) at the VNNI level
    /// and as tiles elsewhere: each row's results equal the ones it gets alone (one row at a time) up to the order
    /// of the per-block float additions.
    func testLongPromptsEqualRowsAlone() {
        var gen = Generator(seed: 65)
        for level in [2, 1] {
            mg_quant_limit_level(Int32(level))
            for dtype in weightTypes {
                let k = 4096, n = 37
                let w = Tensor.randn([n, k], generator: &gen).converted(to: dtype)
                let x = Tensor.randn([150, k], generator: &gen)
                let all = withNoGrad { x.linear(weight: w) }.toArray()
                let wd = w.float().toArray(), xs = x.toArray()
                for r in [0, 7, 111, 112, 149] {
                    let alone = withNoGrad { x.slice(axis: 0, r, r + 1).linear(weight: w) }.toArray()
                    for c in 0..<n {
                        var scale = 0.0
                        for j in 0..<k { scale += abs(Double(wd[c * k + j]) * Double(xs[r * k + j])) }
                        XCTAssertEqual(
                            Double(all[r * n + c]), Double(alone[c]), accuracy: 1e-6 * scale,
                            "\(dtype) level \(level) row \(r) col \(c)")
                    }
                }
            }
        }
    }

    /// Through a frozen quantized weight (the QLoRA case), a recorded product computes in float32 with the
    /// dequantized weight, and the input gradient is the one of that float32 product.
    func testInputGradientThroughAQuantizedWeight() {
        var gen = Generator(seed: 66)
        for dtype in weightTypes {
            let k = dtype.blockSize * 2
            let w = Tensor.randn([5, k], generator: &gen).converted(to: dtype)
            let xValues = Tensor.randn([3, k], generator: &gen)
            let g = Tensor.randn([3, 5], generator: &gen)
            let x = xValues.copy().requiringGrad()
            let y = x.linear(weight: w)
            (y * g).sum().backward()
            let xf = xValues.copy().requiringGrad()
            let yf = xf.linear(weight: w.float())
            (yf * g).sum().backward()
            let (a, b) = (y.toArray(), yf.toArray())
            for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * max(1, abs(b[i])), "\(dtype) y \(i)") }
            let (ga, gb) = (x.grad?.toArray() ?? [], xf.grad?.toArray() ?? [])
            XCTAssertEqual(ga.count, 3 * k, "\(dtype)")
            for i in gb.indices {
                XCTAssertEqual(ga[i], gb[i], accuracy: 1e-4 * max(1, abs(gb[i])), "\(dtype) gx \(i)")
            }
        }
    }
}
