import XCTest
import MGTensor
import MGTestSupport

/// 16-bit weights used in place (widened inside the kernels) give the same results as their float32 widening:
/// the streaming path (≤ 8 rows), the tiled sgemm path, odd sizes, the input gradient, embeddings.
final class HalfWeightTests: XCTestCase {
    // These tests check the widening path; the bf16-dot kernels are checked against it in HalfKernelTests.
    private var savedKernel = HalfPrecision.kernel

    override func setUp() {
        super.setUp()
        savedKernel = HalfPrecision.kernel
        HalfPrecision.kernel = .widenedFloat32
    }

    override func tearDown() {
        HalfPrecision.kernel = savedKernel
        super.tearDown()
    }

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

final class TokenMajorAttentionTests: XCTestCase {
    /// The transpose-free layout gives the head-major result (GQA, masks, causal offsets).
    func testMatchesHeadMajor() {
        var gen = Generator(seed: 31)
        let b = 2, l = 5, s = 7, h = 4, hkv = 2, d = 6
        let q = Tensor.randn([b, l, h * d], generator: &gen), k = Tensor.randn([b, s, hkv * d], generator: &gen)
        let v = Tensor.randn([b, s, hkv * d], generator: &gen)
        let mask = Tensor((0..<(b * s)).map { $0 % 5 == 3 ? 0 : 1 }, shape: [b, 1, 1, s])
        func heads(_ t: Tensor, _ n: Int) -> Tensor { t.reshaped([t.shape[0], t.shape[1], n, d]).transposed(1, 2) }
        for causal in [false, true] {
            let reference = Tensor.scaledDotProductAttention(
                query: heads(q, h), key: heads(k, hkv), value: heads(v, hkv),
                mask: mask, isCausal: causal, causalOffset: 2
            )
            .transposed(1, 2).reshaped([b, l, h * d])
            let fast = Tensor.scaledDotProductAttention(
                tokensMajorQuery: q, key: k, value: v, heads: h, keyValueHeads: hkv,
                mask: mask, isCausal: causal, causalOffset: 2)
            let r = compare(fast, reference, atol: 1e-6)
            XCTAssertTrue(r.ok, "causal \(causal): \(r.message)")
        }
    }

    /// Additive biases (Swin's per-head relative-position bias and per-window mask) enter the scaled scores before
    /// the softmax, each broadcast over the dims it lacks, and combine with a boolean mask.
    func testAdditiveBiasesMatchTheComposedOps() {
        var gen = Generator(seed: 32)
        let b = 3, l = 4, h = 2, d = 5
        let q = Tensor.randn([b, l, h * d], generator: &gen), k = Tensor.randn([b, l, h * d], generator: &gen)
        let v = Tensor.randn([b, l, h * d], generator: &gen)
        let perHead = Tensor.randn([1, h, l, l], generator: &gen)
        let perBatch = Tensor((0..<(b * l * l)).map { $0 % 3 == 0 ? -100 : 0 }, shape: [b, 1, l, l])
        let mask = Tensor((0..<(b * l)).map { $0 % 4 == 1 ? 0 : 1 }, shape: [b, 1, 1, l])
        let hidden = Tensor((0..<(b * l)).map { $0 % 4 == 1 ? 1 : 0 }, shape: [b, 1, 1, l])
        func heads(_ t: Tensor) -> Tensor { t.reshaped([b, l, h, d]).transposed(1, 2) }  // [B, H, L, D]
        let scores = heads(q).matmul(heads(k), transposeB: true) * (1 / Float(d).squareRoot()) + perHead + perBatch
        let masked = scores.maskedFill(hidden, -.infinity)
        let reference = masked.softmax(axis: -1).matmul(heads(v)).transposed(1, 2).reshaped([b, l, h * d])
        let fast = Tensor.scaledDotProductAttention(
            tokensMajorQuery: q, key: k, value: v, heads: h, keyValueHeads: h, mask: mask,
            additiveBiases: [perHead, perBatch])
        let r = compare(fast, reference, atol: 1e-5)
        XCTAssertTrue(r.ok, r.message)
    }
}
