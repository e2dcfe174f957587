import XCTest
import MGTensor
import MGCheckpoint
import MGTestSupport

/// Parity with PyTorch: Tests/Fixtures/reference/ops-*.safetensors (copied from ../shared/fixtures/reference,
/// produced by torch 2.13 CPU; see Tests/Fixtures/README.md). Tolerances are the ones the fixtures README states.
final class OpFixtureTests: XCTestCase {
    func open(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: Fixtures.url("reference/\(name).safetensors"))
    }

    func assertClose(
        _ actual: Tensor?, _ expected: Tensor, atol: Float, rtol: Float = 0, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let actual else { return XCTFail("\(what): no value", file: file, line: line) }
        let r = compare(actual, expected, atol: atol, rtol: rtol)
        XCTAssertTrue(r.ok, "\(what): \(r.message)", file: file, line: line)
    }

    /// Runs `f` on fresh leaves, back-propagates `gradOutput`, returns (output, input grads).
    func forwardBackward(_ inputs: [Tensor], gradOutput: Tensor?, _ f: ([Tensor]) -> Tensor) -> (Tensor, [Tensor?]) {
        let leaves = inputs.map { $0.requiringGrad() }
        let y = f(leaves)
        if let gradOutput { y.backward(gradOutput) } else { y.backward() }
        return (y.detached(), leaves.map { $0.grad })
    }

    func testActivations() throws {
        let f = try open("ops-activation")
        let x = try f.tensor("input.x")
        let cases: [(String, (Tensor) -> Tensor)] = [
            ("gelu_exact", { $0.gelu() }), ("gelu_tanh", { $0.geluTanh() }), ("quick_gelu", { $0.quickGelu() }),
            ("softmax", { $0.softmax(axis: -1) }), ("log_softmax", { $0.logSoftmax(axis: -1) })
        ]
        for (name, op) in cases {
            let (y, grads) = forwardBackward([x], gradOutput: try f.tensor("input.\(name).grad_output")) { op($0[0]) }
            assertClose(y, try f.tensor("output.\(name)"), atol: 1e-6, name)
            assertClose(grads[0], try f.tensor("grad.\(name).x"), atol: 1e-6, "grad \(name)")
        }
        // Cross-entropy with ignore_index −100, mean over the non-ignored.
        let logits = try f.tensor("input.ce.logits")
        let labels = try f.tensor("input.ce.labels").toInt64Array().map { Int($0) }
        XCTAssertTrue(labels.contains(-100), "the fixture exercises ignore_index")
        let (loss, grads) = forwardBackward([logits], gradOutput: nil) {
            $0[0].reshaped([-1, 11]).crossEntropy(targets: labels)
        }
        assertClose(loss, try f.tensor("output.ce.loss"), atol: 1e-6, "ce loss")
        assertClose(grads[0], try f.tensor("grad.ce.logits"), atol: 1e-6, "ce grad")
    }

    /// Exact GELU and its derivative against float64 libm (erf, exp) on a dense grid over [−12, 12]: the vectorised
    /// Φ must stay within float32 rounding of the exact function everywhere, tails included.
    func testExactGeluAgainstFloat64() throws {
        let n = 48_001
        let xs = (0..<n).map { Float(-12 + 24 * Double($0) / Double(n - 1)) }
        let x = Tensor(xs, shape: [n]).requiringGrad()
        let y = x.gelu()
        y.backward(Tensor.ones([n]))
        let out = y.toArray(), grad = try XCTUnwrap(x.grad).toArray()
        var worstY = 0.0, worstG = 0.0
        for (i, v) in xs.enumerated() {
            let d = Double(v), cdf = 0.5 * (1 + erf(d / 2.0.squareRoot()))
            let pdf = exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            worstY = max(worstY, abs(Double(out[i]) - d * cdf) / max(1, abs(d)))
            worstG = max(worstG, abs(Double(grad[i]) - (cdf + d * pdf)))
        }
        XCTAssertLessThan(worstY, 3e-7, "GELU relative error (abs below |x| = 1)")
        XCTAssertLessThan(worstG, 1e-6, "GELU derivative abs error")
    }

    func testNorms() throws {
        let f = try open("ops-norm")
        for (name, eps) in [("layernorm_eps1e-5", Float(1e-5)), ("layernorm_eps1e-6", 1e-6)] {
            let (y, g) = forwardBackward(
                [
                    try f.tensor("input.\(name).x"), try f.tensor("input.\(name).weight"),
                    try f.tensor("input.\(name).bias")
                ],
                gradOutput: try f.tensor("input.\(name).grad_output")
            ) { $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: eps) }
            assertClose(y, try f.tensor("output.\(name)"), atol: 1e-5, name)
            for (i, p) in ["x", "weight", "bias"].enumerated() {
                assertClose(g[i], try f.tensor("grad.\(name).\(p)"), atol: 1e-5, "grad \(name).\(p)")
            }
        }
        let (y2d, g2d) = forwardBackward(
            [
                try f.tensor("input.layernorm2d.x"), try f.tensor("input.layernorm2d.weight"),
                try f.tensor("input.layernorm2d.bias")
            ],
            gradOutput: try f.tensor("input.layernorm2d.grad_output")
        ) { $0[0].layerNorm2d(weight: $0[1], bias: $0[2], eps: 1e-6) }
        assertClose(y2d, try f.tensor("output.layernorm2d"), atol: 1e-5, "layernorm2d")
        for (i, p) in ["x", "weight", "bias"].enumerated() {
            assertClose(g2d[i], try f.tensor("grad.layernorm2d.\(p)"), atol: 1e-5, "grad layernorm2d.\(p)")
        }
        let (yr, gr) = forwardBackward(
            [try f.tensor("input.rmsnorm.x"), try f.tensor("input.rmsnorm.weight")],
            gradOutput: try f.tensor("input.rmsnorm.grad_output")
        ) { $0[0].rmsNorm(weight: $0[1], eps: 1e-6) }
        assertClose(yr, try f.tensor("output.rmsnorm"), atol: 1e-5, "rmsnorm")
        assertClose(gr[0], try f.tensor("grad.rmsnorm.x"), atol: 1e-5, "grad rmsnorm.x")
        assertClose(gr[1], try f.tensor("grad.rmsnorm.weight"), atol: 1e-5, "grad rmsnorm.weight")
        // float16 input, float32 weight: the normalised value is rounded to f16 before the weight multiply.
        let x16 = try f.tensor("input.rmsnorm_fp16.x")
        XCTAssertEqual(x16.dtype, .float16)
        let y16 = x16.rmsNorm(weight: try f.tensor("input.rmsnorm.weight"), eps: 1e-6)
        XCTAssertEqual(y16.dtype, .float32)
        assertClose(y16, try f.tensor("output.rmsnorm_fp16"), atol: 1e-3, "rmsnorm_fp16")
    }

    /// The stride-1 depthwise fast path (CKernels: zero-padded plane, 8-column register blocks, scalar tail) against
    /// a float64 direct convolution, on shapes that exercise narrow and wide rows, even and odd kernels,
    /// no/partial/full padding and a channel multiplier.
    func testDepthwiseStride1AgainstDirect() {
        var gen = Generator(seed: 11)
        // (batch, channels, multiplier, height, width, kernel, padding)
        let shapes = [
            (2, 3, 1, 23, 37, 7, 3), (1, 4, 2, 9, 9, 3, 1), (1, 2, 1, 9, 30, 7, 0), (1, 2, 1, 16, 17, 4, 2),
            (1, 1, 1, 3, 3, 7, 3), (1, 3, 1, 12, 64, 5, 2)
        ]
        for (b, c, m, h, w, k, p) in shapes {
            let x = Tensor.randn([b, c, h, w], generator: &gen)
            let weight = Tensor.randn([c * m, 1, k, k], generator: &gen), bias = Tensor.randn([c * m], generator: &gen)
            let y = x.conv2d(weight: weight, bias: bias, stride: (1, 1), padding: (p, p), groups: c)
            let oh = h + 2 * p - k + 1, ow = w + 2 * p - k + 1
            XCTAssertEqual(y.shape, [b, c * m, oh, ow])
            let xs = x.toArray(), ws = weight.toArray(), bs = bias.toArray(), ys = y.toArray()
            var worst = 0.0
            for n in 0..<b {
                for oc in 0..<(c * m) {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var acc = Double(bs[oc])
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let iy = oy - p + ky, ix = ox - p + kx
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    acc +=
                                        Double(ws[(oc * k + ky) * k + kx])
                                        * Double(xs[((n * c + oc / m) * h + iy) * w + ix])
                                }
                            }
                            worst = max(worst, abs(Double(ys[((n * c * m + oc) * oh + oy) * ow + ox]) - acc))
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 1e-4, "\((b, c, m, h, w, k, p))")
        }
    }

    func testConv() throws {
        let f = try open("ops-conv")
        // (case, stride, padding, groups)
        let cases: [(String, Int, Int, Int)] = [
            ("dw7x7", 1, 3, 6), ("pw1x1", 1, 0, 1), ("k4s4", 4, 0, 1), ("k2s2", 2, 0, 1)
        ]
        for (name, s, p, groups) in cases {
            let (y, g) = forwardBackward(
                [
                    try f.tensor("input.\(name).x"), try f.tensor("input.\(name).weight"),
                    try f.tensor("input.\(name).bias")
                ],
                gradOutput: try f.tensor("input.\(name).grad_output")
            ) {
                $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (s, s), padding: (p, p), groups: groups)
            }
            assertClose(y, try f.tensor("output.\(name)"), atol: 1e-5, name)
            for (i, part) in ["x", "weight", "bias"].enumerated() {
                assertClose(g[i], try f.tensor("grad.\(name).\(part)"), atol: 1e-5, "grad \(name).\(part)")
            }
        }
    }

    func testInterpolate() throws {
        let f = try open("ops-interpolate")
        for name in ["up8", "up_to_square", "down_768_to_336", "down_nonint", "align_corners_true"] {
            let expected = try f.tensor("output.\(name)")
            let (y, g) = forwardBackward(
                [try f.tensor("input.\(name).x")],
                gradOutput: try f.tensor("input.\(name).grad_output")
            ) {
                $0[0].interpolateBilinear(
                    height: expected.shape[2], width: expected.shape[3],
                    alignCorners: name == "align_corners_true")
            }
            assertClose(y, expected, atol: 1e-6, name)
            assertClose(g[0], try f.tensor("grad.\(name).x"), atol: 1e-5, "grad \(name)")
        }
    }

    func testRotary() throws {
        let f = try open("ops-attention")
        let pos = try f.tensor("input.rope.position_ids")
        let ids = pos.toInt64Array().map { Int($0) }
        let positions = (0..<pos.shape[0]).map { Array(ids[($0 * pos.shape[1])..<(($0 + 1) * pos.shape[1])]) }
        let (cos, sin) = Rotary.cosSin(positions: positions, headDim: 16, theta: 10000)
        assertClose(cos, try f.tensor("output.rope.cos"), atol: 1e-5, "rope cos")
        assertClose(sin, try f.tensor("output.rope.sin"), atol: 1e-5, "rope sin")
        for part in ["q", "k"] {
            let (y, g) = forwardBackward(
                [try f.tensor("input.rope.\(part)")],
                gradOutput: try f.tensor("input.rope.grad_\(part)_embed")
            ) {
                $0[0].applyingRotary(cos: cos, sin: sin)
            }
            assertClose(y, try f.tensor("output.rope.\(part)_embed"), atol: 1e-5, "rope \(part)")
            assertClose(g[0], try f.tensor("grad.rope.\(part)"), atol: 1e-5, "grad rope \(part)")
        }
    }

    func testAttention() throws {
        let f = try open("ops-attention")
        let q = try f.tensor("input.sdpa.q"), k = try f.tensor("input.sdpa.k"), v = try f.tensor("input.sdpa.v")
        let mask = try f.tensor("input.sdpa.attn_mask")
        XCTAssertEqual(mask.dtype, .uint8)
        let (y, g) = forwardBackward([q, k, v], gradOutput: try f.tensor("input.sdpa.grad_output")) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask)
        }
        assertClose(y, try f.tensor("output.sdpa"), atol: 1e-5, "sdpa")
        for (i, part) in ["q", "k", "v"].enumerated() {
            assertClose(g[i], try f.tensor("grad.sdpa.\(part)"), atol: 1e-5, "grad sdpa.\(part)")
        }
        // The same mask built from the key-padding mask and our causal flag.
        let padding = try f.tensor("input.sdpa.key_padding_mask").reshaped([2, 1, 1, 6])
        let y2 = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: padding, isCausal: true)
        assertClose(y2, try f.tensor("output.sdpa"), atol: 1e-5, "sdpa causal flag + padding mask")
        let yc = Tensor.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)
        assertClose(yc, try f.tensor("output.sdpa_is_causal"), atol: 1e-5, "sdpa is_causal")
    }
}
