import XCTest
import MGTensor

final class TensorBasicsTests: XCTestCase {
    /// `permuted` against direct index arithmetic, on every order of random rank-2…4 shapes (sizes around the
    /// 16-element tiles of the transpose path, and 1s that merge away), including NCHW ↔ NHWC at ConvNeXt-like sizes.
    func testPermuteMatchesIndexArithmetic() {
        var gen = Generator(seed: 9)
        func permutations(_ r: Int) -> [[Int]] {
            if r == 1 { return [[0]] }
            return permutations(r - 1).flatMap { p in
                (0...p.count).map { i in
                    var q = p; q.insert(r - 1, at: i); return q
                }
            }
        }
        var shapes: [[Int]] = [[2, 20, 9, 7], [1, 17, 33], [3, 1, 16, 5], [31, 16], [1, 40, 12, 12]]
        for _ in 0..<6 { shapes.append((0..<(2 + gen.nextInt(below: 3))).map { _ in 1 + gen.nextInt(below: 20) }) }
        for shape in shapes {
            let x = Tensor.randn(shape, generator: &gen)
            let values = x.toArray()
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
            for order in permutations(shape.count) {
                let y = x.permuted(order)
                XCTAssertEqual(y.shape, order.map { shape[$0] })
                let out = y.toArray()
                var index = [Int](repeating: 0, count: shape.count)
                for flat in 0..<out.count {
                    var rem = flat
                    for d in stride(from: shape.count - 1, through: 0, by: -1) {
                        index[d] = rem % y.shape[d]
                        rem /= y.shape[d]
                    }
                    let source = zip(order, index).reduce(0) { $0 + strides[$1.0] * $1.1 }
                    if out[flat] != values[source] {
                        XCTFail("permute \(shape) by \(order): element \(flat)")
                        break
                    }
                }
            }
        }
    }

    func testBFloat16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0).
        XCTAssertEqual(floatToBF16(1 + Float(1) / 256), 0x3F80)
        // 1 + 3·2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
        XCTAssertEqual(floatToBF16(1 + Float(3) / 256), 0x3F82)
        XCTAssertEqual(bf16ToFloat(0x3F80), 1)
        XCTAssertTrue(bf16ToFloat(floatToBF16(.nan)).isNaN)
        XCTAssertEqual(bf16ToFloat(floatToBF16(-.infinity)), -.infinity)
    }

    func testFloat16MatchesSwiftFloat16() {
        var gen = Generator(seed: 3)
        var values: [Float] = [0, -0, 1, -2.5, 65504, 65520, 1e-8, 6.1e-5, 5.96e-8, 2.98e-8, 1e5, .infinity, -.infinity]
        for _ in 0..<20_000 { values.append(gen.nextNormal() * Foundation.pow(10, Float(gen.nextInt(below: 12)) - 6)) }
        for v in values {
            let ours = floatToF16(v)
            let reference = Float16(v).bitPattern
            XCTAssertEqual(ours, reference, "f16 of \(v)")
            XCTAssertEqual(f16ToFloat(ours), Float(Float16(bitPattern: ours)), "widening \(ours)")
        }
        XCTAssertTrue(f16ToFloat(floatToF16(.nan)).isNaN)
    }

    func testDTypeConversionRoundTrip() {
        let t = Tensor([1.5, -2, 3.25, 0], shape: [2, 2])
        for d in [DType.bfloat16, .float16] {
            XCTAssertEqual(t.converted(to: d).float().toArray(), t.toArray())
        }
        let ids = Tensor(int64: [1, -200, 70000], shape: [3])
        XCTAssertEqual(ids.converted(to: .int32).toInt64Array(), [1, -200, 70000])
        XCTAssertEqual(ids.float().toArray(), [1, -200, 70000])
    }

    func testGeneratorIsDeterministicAndRestorable() {
        var a = Generator(seed: 42), b = Generator(seed: 42)
        XCTAssertEqual((0..<5).map { _ in a.nextUInt64() }, (0..<5).map { _ in b.nextUInt64() })
        let saved = a
        let next = a.nextNormal()
        var restored = saved
        XCTAssertEqual(restored.nextNormal(), next)
        // Normal samples: mean ≈ 0, variance ≈ 1.
        var g = Generator(seed: 1)
        let xs = (0..<50_000).map { _ in Double(g.nextNormal()) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.03)
        XCTAssertEqual(Set(g.permutation(10)), Set(0..<10))
    }

    func testBroadcastForwardValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual((a + Tensor([10, 20, 30])).toArray(), [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((a * Tensor([2, 3], shape: [2, 1])).toArray(), [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((Tensor([1, 2], shape: [2, 1, 1]) - Tensor([1, 1, 1], shape: [1, 3])).shape, [2, 1, 3])
        XCTAssertEqual(a.sum(axis: 0).toArray(), [5, 7, 9])
        XCTAssertEqual(a.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(a.max(axis: 1).toArray(), [3, 6])
        XCTAssertEqual(a.transposed().toArray(), [1, 4, 2, 5, 3, 6])
    }

    func testLargeKernelsMatchSmallOnes() {
        // Parallel paths (above the size threshold) agree with element-by-element results.
        var gen = Generator(seed: 9)
        let x = Tensor.randn([300, 257], generator: &gen), y = Tensor.randn([1, 257], generator: &gen)
        let sum = (x + y).toArray(), xs = x.toArray(), ys = y.toArray()
        for i in stride(from: 0, to: sum.count, by: 997) { XCTAssertEqual(sum[i], xs[i] + ys[i % 257]) }
        let rows = x.sum(axis: 1).toArray()
        var expected: Float = 0
        for j in 0..<257 { expected += xs[5 * 257 + j] }
        XCTAssertEqual(rows[5], expected, accuracy: 1e-3)
        let cols = x.sum(axis: 0).toArray()
        var col7: Float = 0
        for i in 0..<300 { col7 += xs[i * 257 + 7] }
        XCTAssertEqual(cols[7], col7, accuracy: 1e-3)
    }

    func testGemvPathMatchesGemm() {
        var gen = Generator(seed: 5)
        let w = Tensor.randn([37, 53], generator: &gen), x = Tensor.randn([4, 53], generator: &gen)
        let full = x.linear(weight: w).toArray()
        for r in 0..<4 {
            let row = x.slice(axis: 0, r, r + 1).linear(weight: w).toArray()  // M = 1 → gemv
            for j in 0..<37 { XCTAssertEqual(row[j], full[r * 37 + j], accuracy: 1e-4) }
        }
        let col = x.matmul(w.slice(axis: 0, 0, 1), transposeB: true).toArray()  // N = 1 → gemv
        for r in 0..<4 { XCTAssertEqual(col[r], full[r * 37], accuracy: 1e-4) }
    }

    func testFullyMaskedAttentionRowIsZero() {
        var gen = Generator(seed: 2)
        let q = Tensor.randn([1, 1, 2, 4], generator: &gen), k = Tensor.randn([1, 1, 3, 4], generator: &gen)
        let mask = Tensor([0, 0, 0, 1, 1, 0], shape: [1, 1, 2, 3])
        let out = Tensor.scaledDotProductAttention(query: q, key: k, value: k, mask: mask).toArray()
        XCTAssertEqual(Array(out[0..<4]), [0, 0, 0, 0])
        XCTAssertTrue(out.allSatisfy { $0.isFinite })
    }

    func testCrossEntropyAllIgnoredIsNaN() {
        let loss = Tensor([1, 2, 3, 4], shape: [2, 2]).crossEntropy(targets: [-100, -100])
        XCTAssertTrue(loss.item().isNaN, "PyTorch returns NaN (0/0) when every target is ignored")
    }
}
