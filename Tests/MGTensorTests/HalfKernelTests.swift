import CKernels
import XCTest

@testable import MGTensor
import MGTestSupport

/// The 16-bit weight kernels of CKernels (half.c, bf16dot.c) against Double references on awkward shapes, at every
/// vector level this CPU runs (AVX-512, AVX2, baseline), and the bf16-dot prefill against the widened float32 path.
final class HalfKernelTests: XCTestCase {
    override func tearDown() {
        mg_limit_vector_level(2)
        super.tearDown()
    }

    /// 16-bit values with every sign and a wide range of magnitudes, subnormal f16 values included.
    private func halfBits(_ count: Int, _ dtype: DType, _ gen: inout Generator) -> [UInt16] {
        let t = Tensor.randn([count], std: 0.5, generator: &gen).converted(to: dtype)
        var bits = t.storage.pointer.withMemoryRebound(to: UInt16.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
        if dtype == .float16 && count > 3 { bits[1] = 0x0001; bits[2] = 0x83ff; bits[3] = 0x7bff }  // subnormals, 65504
        return bits
    }

    private func widened(_ bits: [UInt16], _ dtype: DType) -> [Double] {
        bits.map { Double(dtype == .bfloat16 ? bf16ToFloat($0) : f16ToFloat($0)) }
    }

    /// y [m, n] (started at 0.5, kept when `accumulated`) against Double sums of wd [n, k] · xd [m, k], within
    /// float32 summation error of Σ|w·x|.
    private func assertMatchesDouble(
        _ y: [Float], _ wd: [Double], _ xd: [Double], m: Int, k: Int, n: Int, accumulated: Bool, _ what: String,
        line: UInt = #line
    ) {
        for r in 0..<m {
            for c in 0..<n {
                var sum = 0.0, scale = 0.0
                for j in 0..<k {
                    sum += wd[c * k + j] * xd[r * k + j]
                    scale += abs(wd[c * k + j] * xd[r * k + j])
                }
                if accumulated { sum += 0.5 }
                XCTAssertEqual(
                    Double(y[r * n + c]), sum, accuracy: 1e-6 * scale + 1e-7,
                    "\(what) m \(m) k \(k) n \(n) row \(r) col \(c)", line: line)
            }
        }
    }

    func testRowsDotMatchesDoubleAtEveryLevel() {
        var gen = Generator(seed: 41)
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            for dtype in [DType.bfloat16, .float16] {
                for (m, k, n) in [
                    (1, 1, 3), (1, 15, 2), (2, 16, 5), (3, 17, 4), (4, 63, 3), (5, 64, 2), (8, 65, 3),
                    (1, 100, 7), (7, 1000, 3), (1, 4096, 2)
                ] {
                    let w = halfBits(n * k, dtype, &gen), wd = widened(w, dtype)
                    let x = Tensor.randn([m, k], generator: &gen).toArray()
                    for accumulate in [false, true] {
                        var y = [Float](repeating: 0.5, count: m * n)
                        w.withUnsafeBufferPointer { wp in
                            mg_half_rows_dot(
                                wp.baseAddress, dtype == .bfloat16 ? 1 : 0, k, x, m, k, 0, n, &y, n,
                                accumulate ? 1 : 0)
                        }
                        assertMatchesDouble(
                            y, wd, x.map(Double.init), m: m, k: k, n: n, accumulated: accumulate,
                            "level \(level) \(dtype)")
                    }
                }
            }
        }
    }

    func testWidenAndReadSumAtEveryLevel() {
        var gen = Generator(seed: 42)
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            for dtype in [DType.bfloat16, .float16] {
                for n in [0, 1, 7, 8, 9, 16, 33, 1000] {
                    let bits = halfBits(n, dtype, &gen)
                    var out = [Float](repeating: .nan, count: n)
                    mg_half_widen(bits, dtype == .bfloat16 ? 1 : 0, n, &out)
                    XCTAssertEqual(out.map(Double.init), widened(bits, dtype), "level \(level) \(dtype) n \(n)")
                }
            }
            for n in [0, 1, 63, 64, 65, 1000] {
                let x = (0..<n).map { Float($0 % 7) - 2.5 }
                XCTAssertEqual(mg_read_sum_f32(x, n), x.reduce(0.0) { $0 + Double($1) }, "level \(level) n \(n)")
            }
        }
    }

    /// NaN and infinity in f16 widen as IEEE says (the kernel's scalar tail and the F16C path agree).
    func testF16SpecialValues() {
        let bits: [UInt16] = [0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000, 0x3c00, 0x0400, 0x03ff]
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            var out = [Float](repeating: 0, count: bits.count)
            mg_half_widen(bits, 0, bits.count, &out)
            XCTAssertEqual(out[0], .infinity)
            XCTAssertEqual(out[1], -.infinity)
            XCTAssertTrue(out[2].isNaN)
            XCTAssertEqual(out[3].bitPattern, 0)
            XCTAssertEqual(out[4].bitPattern, 0x8000_0000)
            XCTAssertEqual(out[5], 1)
            XCTAssertEqual(out[6], Float(sign: .plus, exponent: -14, significand: 1))
            XCTAssertEqual(out[7], Float(1023) * Float(sign: .plus, exponent: -24, significand: 1))
        }
    }

    /// mg_half_gemm (prefill's 5 × 5 register tiles) against Double sums on shapes that do not fill the tiles, the
    /// 16-value step or the 64-row block, a sub-range of weight rows, accumulating or not; AVX-512 and the reference.
    func testHalfGEMMTilesAgainstDouble() {
        var gen = Generator(seed: 47)
        for level in [2, 0] {
            mg_limit_vector_level(Int32(level))
            for dtype in [DType.bfloat16, .float16] {
                for (m, k, n) in [(1, 1, 1), (5, 16, 5), (6, 17, 7), (9, 33, 64), (11, 1030, 70), (13, 15, 131)] {
                    let w = halfBits(n * k, dtype, &gen), wd = widened(w, dtype)
                    let x = Tensor.randn([m, k], generator: &gen).toArray()
                    let (begin, end) = n > 8 ? (3, n - 2) : (0, n)
                    for accumulate in [0, 1] {
                        var y = [Float](repeating: 0.5, count: m * n)
                        mg_half_gemm(x, m, k, w, dtype == .bfloat16 ? 1 : 0, begin, end, &y, n, Int32(accumulate))
                        for r in 0..<m {
                            for c in 0..<n {
                                guard c >= begin && c < end else {
                                    XCTAssertEqual(y[r * n + c], 0.5, "row \(c) outside the range was written")
                                    continue
                                }
                                var sum = Double(accumulate) * 0.5, scale = 0.0
                                for j in 0..<k {
                                    sum += Double(x[r * k + j]) * wd[c * k + j]
                                    scale += abs(Double(x[r * k + j]) * wd[c * k + j])
                                }
                                XCTAssertEqual(
                                    Double(y[r * n + c]), sum, accuracy: 1e-5 * scale + 1e-6,
                                    "level \(level) \(dtype) m \(m) k \(k) n \(n) at \(r),\(c)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The inference kernel is chosen at run time: bf16 dot products where the CPU has them, widening elsewhere.
    func testDefaultKernelFollowsTheCPU() {
        XCTAssertEqual(HalfPrecision.defaultKernel, HalfPrecision.hasBF16Dot ? .bf16 : .widenedFloat32)
        mg_limit_vector_level(1)  // tearDown lifts the cap
        XCTAssertFalse(HalfPrecision.hasBF16Dot, "a capped vector level must hide AVX512-BF16")
        XCTAssertEqual(HalfPrecision.defaultKernel, .widenedFloat32)
    }

    /// A prompt row's result does not depend on the other rows of its batch (batched decoding equals one by one),
    /// for every kernel.
    func testRowsDoNotDependOnTheBatch() {
        var gen = Generator(seed: 45)
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        let x = Tensor.randn([6, 70], generator: &gen)
        for dtype in [DType.bfloat16, .float16] {
            let w = Tensor.randn([7, 70], generator: &gen).converted(to: dtype)
            for kernel in [HalfPrecisionKernel.widenedFloat32, .bf16Split, .bf16] {
                HalfPrecision.kernel = kernel
                let batched = withNoGrad { x.linear(weight: w) }.toArray()
                for r in 0..<6 {
                    let alone = withNoGrad { x.slice(axis: 0, r, r + 1).linear(weight: w) }.toArray()
                    XCTAssertEqual(Array(batched[(r * 7)..<(r * 7 + 7)]), alone, "\(dtype) \(kernel) row \(r)")
                }
            }
        }
    }

    /// mg_f16_round against Swift's Float16 conversion (round to nearest even) at every vector level: halfway
    /// cases, the largest half and the overflow edge (65519.99 → 65504, 65520 → ∞), subnormals, ±0, ±∞, NaN.
    func testF16RoundingMatchesFloat16AtEveryLevel() {
        var gen = Generator(seed: 47)
        var values: [Float] = [
            0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, .infinity, -.infinity, 6.1e-5, 6.0e-8, 2.9e-8,
            3.0e-8, 1e-10, -5.96e-8, 1 + 1 / 2048, 1 + 3 / 2048, 2049, 2051, .leastNormalMagnitude
        ]
        values += Tensor.randn([300], std: 3, generator: &gen).toArray()
        values += Tensor.randn([300], std: 1, generator: &gen).toArray().map { $0 * 1e-5 }
        values += Tensor.randn([300], std: 1, generator: &gen).toArray().map { $0 * 3e4 }
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            var out = [UInt16](repeating: 0, count: values.count)
            mg_f16_round(values, values.count, &out)
            for (i, v) in values.enumerated() {
                XCTAssertEqual(out[i], Float16(v).bitPattern, "level \(level) value \(v)")
            }
            var nan = [UInt16](repeating: 0, count: 1)
            mg_f16_round([Float.nan], 1, &nan)
            XCTAssertTrue(Float16(bitPattern: nan[0]).isNaN, "level \(level) NaN")
        }
    }

    /// mg_half_rows_dot_f16x (f16 activations, bf16 or f16 weights) against Double sums of the same widened values
    /// at every vector level, on k across the 32- and 64-value steps.
    func testF16ActivationRowsDotAgainstDoubleAtEveryLevel() {
        var gen = Generator(seed: 48)
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            for dtype in [DType.bfloat16, .float16] {
                for (m, k, n) in [
                    (1, 1, 3), (1, 31, 2), (2, 32, 5), (3, 65, 4), (1, 100, 7), (8, 1000, 3), (1, 11008, 2)
                ] {
                    let w = halfBits(n * k, dtype, &gen), wd = widened(w, dtype)
                    let xh = halfBits(m * k, .float16, &gen), xd = widened(xh, .float16)
                    for accumulate in [false, true] {
                        var y = [Float](repeating: 0.5, count: m * n)
                        mg_half_rows_dot_f16x(
                            w, dtype == .bfloat16 ? 1 : 0, k, xh, m, k, 0, n, &y, n, accumulate ? 1 : 0)
                        assertMatchesDouble(
                            y, wd, xd, m: m, k: k, n: n, accumulated: accumulate, "level \(level) \(dtype)")
                    }
                }
            }
        }
    }

    /// f16 weights under the 16-bit kernel compute with the activations rounded to f16 (llama.cpp's F16 numbers),
    /// decoding's ≤ 8 rows and prefill's tiles alike: equal, within float32 summation error, to the float32 path
    /// given f16-rounded activations; `.bf16Split` keeps float32 activations for f16 weights.
    func testF16WeightsRoundActivationsUnderTheSixteenBitKernel() {
        var gen = Generator(seed: 49)
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        for (m, k, n) in [(1, 33, 5), (3, 64, 7), (8, 1025, 6), (9, 70, 3), (20, 130, 67)] {
            let w = Tensor.randn([n, k], std: 0.3, generator: &gen).converted(to: .float16)
            let x = Tensor.randn([m, k], std: 2, generator: &gen), b = Tensor.randn([n], generator: &gen)
            let xRounded = x.converted(to: .float16).float()
            HalfPrecision.kernel = .widenedFloat32
            let reference = withNoGrad { xRounded.linear(weight: w, bias: b) }.toArray()
            let unrounded = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
            let scale = withNoGrad { x.abs().linear(weight: w.float().abs()) }.toArray()
            HalfPrecision.kernel = .bf16
            let y = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
            HalfPrecision.kernel = .bf16Split
            let split = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
            var differs = false
            for i in 0..<y.count {
                XCTAssertEqual(
                    Double(y[i]), Double(reference[i]), accuracy: 1e-6 * Double(scale[i]) + 1e-6,
                    "m \(m) k \(k) n \(n) at \(i)")
                XCTAssertEqual(
                    Double(split[i]), Double(unrounded[i]), accuracy: 1e-6 * Double(scale[i]) + 1e-6,
                    "split m \(m) k \(k) n \(n) at \(i)")
                if abs(y[i] - unrounded[i]) > 1e-6 * scale[i] { differs = true }
            }
            XCTAssertTrue(differs, "m \(m) k \(k) n \(n): the f16 rounding of the activations must show")
        }
    }

    /// The bf16-dot kernels (both activation modes, decoding's ≤ 8 rows and prefill's tiles) against the widened
    /// float32 path on awkward shapes: rows and columns that do not fill the 4×4 tile, k across the 32-value step
    /// and the 1024-value pass, n across the 64-row block. `.bf16Split` stays within float32-like error; `.bf16`
    /// within bf16 rounding of the rows.
    func testBF16DotAgainstWidenedFloat32() {
        // Without AVX512-BF16 the kernels fall back to widening and this compares that path with itself; the C
        // kernels' own fallback is checked in testBF16KernelsAgainstDoubleAtEveryLevel.
        var gen = Generator(seed: 43)
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        for (m, k, n) in [
            (1, 1, 3), (1, 33, 5), (3, 64, 7), (8, 1025, 6), (9, 1, 3), (10, 31, 5), (11, 32, 4),
            (13, 33, 67), (16, 1025, 9), (9, 2049, 130), (31, 64, 1)
        ] {
            let w = Tensor.randn([n, k], std: 0.3, generator: &gen).converted(to: .bfloat16)
            let x = Tensor.randn([m, k], generator: &gen), b = Tensor.randn([n], generator: &gen)
            HalfPrecision.kernel = .widenedFloat32
            let reference = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
            let scale = withNoGrad { x.abs().linear(weight: w.float().abs()) }.toArray()
            for (kernel, relative) in [(HalfPrecisionKernel.bf16Split, 2e-5), (.bf16, 8e-3)] {
                HalfPrecision.kernel = kernel
                let y = withNoGrad { x.linear(weight: w, bias: b) }.toArray()
                for i in 0..<y.count {
                    XCTAssertEqual(
                        Double(y[i]), Double(reference[i]), accuracy: relative * Double(scale[i]) + 1e-6,
                        "\(kernel) m \(m) k \(k) n \(n) at \(i)")
                }
            }
        }
    }

    /// mg_bf16_split and both dot kernels (prefill tiles, decoding blocks) against Double sums of the same bf16
    /// terms, with AVX512-BF16 where the CPU has it and the scalar fallback (level capped) everywhere.
    func testBF16KernelsAgainstDoubleAtEveryLevel() {
        var gen = Generator(seed: 46)
        for level in [2, 0] {
            mg_limit_vector_level(Int32(level))
            for terms in [1, 2] {
                for (m, k, n) in [(1, 1, 1), (2, 31, 5), (5, 33, 9), (9, 64, 3), (12, 1030, 70)] {
                    let w = halfBits(n * k, .bfloat16, &gen), wd = widened(w, .bfloat16)
                    let x = Tensor.randn([m, k], generator: &gen).toArray()
                    var xb = [UInt16](repeating: 0, count: m * terms * k)
                    mg_bf16_split(x, m, k, terms, &xb)
                    let xd = widened(xb, .bfloat16)
                    for r in 0..<m * k where terms == 2 {
                        // The two terms hold the value to 16 significant bits.
                        let (row, j) = (r / k, r % k)
                        let sum = xd[row * 2 * k + j] + xd[row * 2 * k + k + j]
                        XCTAssertEqual(sum, Double(x[r]), accuracy: abs(Double(x[r])) * 1e-5)
                    }
                    for decoding in [false, true] {
                        var y = [Float](repeating: 0.25, count: m * n)
                        w.withUnsafeBufferPointer { wp in
                            if decoding {
                                mg_bf16_rows_dot(xb, terms, m, k, wp.baseAddress, 0, n, &y, n, 1)
                            } else {
                                mg_bf16_dot_rows(xb, terms, m, k, wp.baseAddress, 0, n, &y, n, 1)
                            }
                        }
                        for r in 0..<m {
                            for c in 0..<n {
                                var s = 0.25, scale = 0.0
                                for t in 0..<terms {
                                    for j in 0..<k {
                                        let p = xd[(r * terms + t) * k + j] * wd[c * k + j]
                                        s += p
                                        scale += abs(p)
                                    }
                                }
                                XCTAssertEqual(
                                    Double(y[r * n + c]), s, accuracy: 1e-5 * scale + 1e-6,
                                    "level \(level) terms \(terms) decoding \(decoding) m \(m) k \(k) n \(n) at \(r),\(c)"
                                )
                            }
                        }
                    }
                }
            }
        }
    }

    /// A product recorded for backward (training with a frozen bf16 LLM) keeps float32 arithmetic, whatever the
    /// inference kernel is.
    func testRecordedProductsKeepFloat32() throws {
        var gen = Generator(seed: 44)
        let w = Tensor.randn([6, 40], generator: &gen).converted(to: .bfloat16)
        let x = Tensor.randn([12, 40], generator: &gen)
        let reference = x.linear(weight: w.float()).toArray()
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        HalfPrecision.kernel = .bf16
        let y = x.requiringGrad().linear(weight: w)
        let r = compare(y, Tensor(reference, shape: [12, 6]), atol: 1e-5, rtol: 1e-5)
        XCTAssertTrue(r.ok, r.message)
    }
}
