import XCTest
import MGTensor
import MGTestSupport

/// 16-bit weights used in place (widened inside the kernels) give the same results as their float32 widening:
/// the streaming path (≤ 8 rows), the tiled sgemm path, odd sizes, the input gradient, embeddings.
final class HalfWeightTests: XCTestCase {
    func testLinearWithHalfWeightsMatchesFloat() {
        var gen = Generator(seed: 21)
        for dtype in [DType.bfloat16, .float16] {
            for (m, k, n) in [(1, 37, 300), (3, 64, 17), (8, 40, 5), (20, 33, 513), (1, 16, 1)] {
                let w16 = Tensor.randn([n, k], std: 0.3, generator: &gen).converted(to: dtype)
                let w32 = w16.float()
                let x = Tensor.randn([m, k], generator: &gen), b = Tensor.randn([n], generator: &gen)
                let r = compare(x.linear(weight: w16, bias: b), x.linear(weight: w32, bias: b), atol: 1e-4, rtol: 1e-4)
                XCTAssertTrue(r.ok, "\(dtype) \(m)×\(k)→\(n): \(r.message)")
                // Input gradient through the frozen 16-bit weight.
                let leaf16 = x.requiringGrad(), leaf32 = x.requiringGrad()
                let g = Tensor.randn([m, n], generator: &gen)
                leaf16.linear(weight: w16).backward(g)
                leaf32.linear(weight: w32).backward(g)
                let rg = compare(leaf16.grad!, leaf32.grad!, atol: 1e-4, rtol: 1e-4)
                XCTAssertTrue(rg.ok, "grad \(dtype) \(m)×\(k)→\(n): \(rg.message)")
            }
        }
    }

    func testBatchedLeadingDimsAndEmbedding() {
        var gen = Generator(seed: 22)
        let w16 = Tensor.randn([24, 12], generator: &gen).converted(to: .bfloat16)
        let x = Tensor.randn([2, 5, 12], generator: &gen)
        let r = compare(x.linear(weight: w16), x.linear(weight: w16.float()), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(r.ok, r.message)
        let e = w16.embedding([3, 0, 23, 3], shape: [2, 2])
        XCTAssertEqual(e.dtype, .float32)
        XCTAssertEqual(e.toArray(), w16.float().embedding([3, 0, 23, 3], shape: [2, 2]).toArray())
    }
}
