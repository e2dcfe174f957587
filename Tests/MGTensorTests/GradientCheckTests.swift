import XCTest
import MGTensor
import MGTestSupport

/// Finite-difference gradient checks for every differentiable op, on seeded random shapes that include
/// broadcasting and size-1 dims. See `gradCheck` for the tolerances.
final class GradientCheckTests: XCTestCase {
    var gen = Generator(seed: 2024)

    // MARK: - Helpers

    func randn(_ shape: [Int], scale: Float = 1) -> Tensor { Tensor.randn(shape, std: scale, generator: &gen) }

    /// Values at least 0.1 away from zero (for ops with a kink or a pole at 0).
    func awayFromZero(_ shape: [Int]) -> Tensor {
        let x = randn(shape)
        return Tensor(x.toArray().map { ($0 < 0 ? -1 : 1) * (0.1 + Swift.abs($0)) }, shape: shape)
    }

    func positive(_ shape: [Int]) -> Tensor {
        Tensor(randn(shape).toArray().map { 0.5 + Swift.abs($0) }, shape: shape)
    }

    func randomShape(maxRank: Int = 4, maxDim: Int = 4) -> [Int] {
        let r = 1 + gen.nextInt(below: maxRank)
        return (0..<r).map { _ in 1 + gen.nextInt(below: maxDim) }
    }

    /// A shape that broadcasts against `shape`: some dims set to 1, maybe some leading dims dropped.
    func broadcastPartner(_ shape: [Int]) -> [Int] {
        var s = shape.map { gen.nextInt(below: 3) == 0 ? 1 : $0 }
        let drop = gen.nextInt(below: s.count)
        if gen.nextInt(below: 2) == 0 { s.removeFirst(drop) }
        return s.isEmpty ? [1] : s
    }

    func check(
        _ name: String, _ inputs: [Tensor], eps: Float = 1e-2, atol: Double? = nil, rtol: Double = 5e-3,
        file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Tensor]) -> Tensor
    ) {
        let r = gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, f)
        XCTAssertTrue(r.ok, "\(name) \(inputs.map { $0.shape }): \(r.message)", file: file, line: line)
    }

    // MARK: - The check itself

    /// The check has teeth: an op whose backward is 1 % off (its forward scaled by 1.01 through a detached term,
    /// which the analytical gradient does not see) fails, for linear and curved ops, on every input size used here.
    func testOnePercentGradientErrorFails() {
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("identity", { $0 }), ("tanh", { $0.tanh() }), ("silu", { $0.silu() }), ("exp", { $0.exp() }),
            ("softmax", { $0.softmax(axis: -1) })
        ]
        for (name, op) in ops {
            for shape in [[3], [2, 5], [2, 3, 4]] {
                let x = randn(shape)
                XCTAssertTrue(gradCheck([x]) { op($0[0]) }.ok, "\(name) \(shape): the correct gradient must pass")
                let wrong = gradCheck([x]) { op($0[0]) + op($0[0].detached()) * 0.01 }
                XCTAssertFalse(wrong.ok, "\(name) \(shape): a 1 % error passed (worst \(wrong.worst))")
            }
        }
    }

    // MARK: - Element-wise

    func testBroadcastingArithmetic() {
        for _ in 0..<6 {
            let s = randomShape(), p = broadcastPartner(s)
            check("add", [randn(s), randn(p)]) { $0[0] + $0[1] }
            check("add reversed", [randn(p), randn(s)]) { $0[0] + $0[1] }
            check("sub", [randn(s), randn(p)]) { $0[0] - $0[1] }
            check("mul", [randn(s), randn(p)]) { $0[0] * $0[1] }
            check("div", [randn(s), awayFromZero(p)]) { $0[0] / $0[1] }
            check("div reversed", [randn(p), awayFromZero(s)]) { $0[0] / $0[1] }
            // Values on two interleaved grids: never within eps of a tie.
            let ga = Tensor(gen.permutation(s.reduce(1, *)).map { Float($0) * 0.1 - 1 }, shape: s)
            let gb = Tensor(gen.permutation(p.reduce(1, *)).map { Float($0) * 0.1 - 0.95 }, shape: p)
            check("maximum", [ga, gb]) { Tensor.maximum($0[0], $0[1]) }
        }
        // Size-1 edge cases: scalar-shaped and all-ones shapes.
        check("add [1]+[3,1,2]", [randn([1]), randn([3, 1, 2])]) { $0[0] + $0[1] }
        check("mul []×[2,3]", [randn([]), randn([2, 3])]) { $0[0] * $0[1] }
        check("mul [1,1]×[1,1]", [randn([1, 1]), randn([1, 1])]) { $0[0] * $0[1] }
        check("self-use", [randn([3, 2])]) { $0[0] * $0[0] + $0[0] }
    }

    /// Activation checkpointing: the recorded node re-runs the body in backward; gradients reach the input and
    /// the parameters the body reads (also when only a parameter needs one).
    func testCheckpointed() {
        check("checkpointed", [randn([3, 4]), randn([4])]) { t in
            Tensor.checkpointed(t[0], parameters: [t[1]]) { x in (x * t[1]).tanh() * x + t[1] }
        }
        let constant = randn([2, 4])
        check("checkpointed, constant input", [randn([4])]) { t in
            Tensor.checkpointed(constant, parameters: [t[0]]) { x in (x * t[0]).sigmoid() }
        }
        check("stacked checkpoints", [randn([2, 3]), randn([3])]) { t in
            let once = Tensor.checkpointed(t[0], parameters: [t[1]]) { x in (x * t[1]).tanh() }
            return Tensor.checkpointed(once, parameters: [t[1]]) { x in x * x + t[1] }
        }
    }

    func testScalarOps() {
        let s = randomShape()
        check("+s", [randn(s)]) { $0[0] + 1.5 }
        check("s-", [randn(s)]) { 2 - $0[0] }
        check("*s", [randn(s)]) { $0[0] * -3 }
        check("/s", [randn(s)]) { $0[0] / 4 }
        check("s/", [awayFromZero(s)]) { 2 / $0[0] }
        check("neg", [randn(s)]) { -$0[0] }
    }

    func testUnaryMath() {
        for _ in 0..<3 {
            let s = randomShape()
            check("exp", [randn(s)]) { $0[0].exp() }
            check("log", [positive(s)]) { $0[0].log() }
            check("sqrt", [positive(s)]) { $0[0].sqrt() }
            check("rsqrt", [positive(s)]) { $0[0].rsqrt() }
            check("pow 3", [randn(s)]) { $0[0].pow(3) }
            check("pow -0.5", [positive(s)]) { $0[0].pow(-0.5) }
            check("square", [randn(s)]) { $0[0].square() }
            check("abs", [awayFromZero(s)]) { $0[0].abs() }
            check("clamp", [awayFromZero(s)]) { $0[0].clamp(min: -0.05, max: 0.05) + $0[0].clamp(min: -5, max: 5) }
        }
    }

    func testActivations() {
        for _ in 0..<3 {
            let s = randomShape()
            check("tanh", [randn(s)]) { $0[0].tanh() }
            check("sigmoid", [randn(s)]) { $0[0].sigmoid() }
            check("relu", [awayFromZero(s)]) { $0[0].relu() }
            check("gelu", [randn(s, scale: 2)]) { $0[0].gelu() }
            check("gelu_tanh", [randn(s, scale: 2)]) { $0[0].geluTanh() }
            check("quick_gelu", [randn(s, scale: 2)]) { $0[0].quickGelu() }
            check("silu", [randn(s, scale: 2)]) { $0[0].silu() }
            check("silu_mul", [randn(s, scale: 2), randn(s)]) { $0[0].siluMul($0[1]) }
        }
    }

    // MARK: - Reductions

    func testReductions() {
        for _ in 0..<4 {
            let s = randomShape()
            let ax = gen.nextInt(below: s.count)
            check("sum axis", [randn(s)]) { $0[0].sum(axis: ax) }
            check("sum keep", [randn(s)]) { $0[0].sum(axis: ax, keepDims: true) * 2 }
            check("sum all", [randn(s)]) { $0[0].sum() }
            check("mean axis", [randn(s)]) { $0[0].mean(axis: ax, keepDims: true) }
            check("mean axes", [randn(s)]) { $0[0].mean(axes: Array(0..<s.count)) }
            // Distinct values well apart, so the argmax does not move under ±eps.
            let n = s.reduce(1, *)
            let distinct = Tensor(gen.permutation(n).map { Float($0) * 0.1 }, shape: s)
            check("max axis", [distinct]) { $0[0].max(axis: ax) }
            check("max keep", [distinct]) { $0[0].max(axis: ax, keepDims: true) }
        }
    }

    // MARK: - Matrix products

    func testMatmul() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (m, k, n) in [(3, 4, 5), (1, 4, 3), (3, 4, 1), (1, 1, 1)] {
                let a = randn(ta ? [k, m] : [m, k]), b = randn(tb ? [n, k] : [k, n])
                check("matmul \(ta)\(tb) \(m)x\(k)x\(n)", [a, b]) {
                    $0[0].matmul($0[1], transposeA: ta, transposeB: tb)
                }
                let ab = randn([2] + (ta ? [k, m] : [m, k])), bb = randn([2] + (tb ? [n, k] : [k, n]))
                check("bmm \(ta)\(tb)", [ab, bb]) { $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
                check("shared rhs \(ta)\(tb)", [ab, b]) { $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
                check("shared lhs \(ta)\(tb)", [a, bb]) { $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
            }
        }
        check("4-D batched", [randn([2, 3, 2, 4]), randn([2, 3, 4, 2])]) { $0[0].matmul($0[1]) }
    }

    func testLinear() {
        check("linear bias", [randn([2, 3, 4]), randn([5, 4]), randn([5])]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
        check("linear no bias", [randn([3, 4]), randn([2, 4])]) { $0[0].linear(weight: $0[1]) }
        check("linear M=1", [randn([1, 6]), randn([3, 6]), randn([3])]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
        check("linear N=1", [randn([4, 6]), randn([1, 6]), randn([1])]) { $0[0].linear(weight: $0[1], bias: $0[2]) }
    }

    // MARK: - Shape ops

    func testShapeOps() {
        check("reshape", [randn([2, 3, 4])]) { $0[0].reshaped([4, -1]) * $0[0].reshaped([4, 6]) }
        check("permute", [randn([2, 3, 4])]) { $0[0].permuted([2, 0, 1]) }
        check("permute 4d", [randn([2, 1, 3, 2])]) { $0[0].permuted([3, 1, 0, 2]) }
        check("transpose", [randn([3, 4])]) { $0[0].transposed() }
        check("slice", [randn([3, 5, 2])]) { $0[0].slice(axis: 1, 1, 4) }
        check("slice first", [randn([4, 2])]) { $0[0].slice(axis: 0, 0, 1) }
        check("select", [randn([3, 4])]) { $0[0].select(axis: -1, 2) }
        check("concat", [randn([2, 3]), randn([2, 1]), randn([2, 2])]) { Tensor.concat($0, axis: 1) }
        check("concat axis0", [randn([1, 3]), randn([2, 3])]) { Tensor.concat($0, axis: 0) }
        check("stack", [randn([2, 3]), randn([2, 3])]) { Tensor.stack($0, axis: 1) }
        check("split", [randn([2, 5])]) { x in
            let parts = x[0].split([2, 3], axis: 1)
            return parts[0].sum(axis: 1) * parts[1].mean(axis: 1)
        }
        check("chunk", [randn([4, 3])]) { x in
            let c = x[0].chunked(2, axis: 0)
            return c[0] * c[1]
        }
        check("pad", [randn([2, 3, 2])]) { $0[0].padded([(0, 1), (2, 0), (1, 1)], value: 0.5) }
        check("unsqueeze/squeeze", [randn([3, 2])]) { $0[0].unsqueezed(1).squeezed(1).unsqueezed(-1) }
        check("expand", [randn([3, 1])]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    // MARK: - Indexing

    func testIndexing() {
        check("index_select", [randn([5, 3])]) { $0[0].indexSelect(axis: 0, [4, 0, 4, 2]) }
        check("index_select mid", [randn([2, 4, 3])]) { $0[0].indexSelect(axis: 1, [1, 1, 3]) }
        check("embedding", [randn([7, 4])]) { $0[0].embedding([1, 6, 1, 0, 3, 3], shape: [2, 3]) }
        check("gather", [randn([3, 4])]) { $0[0].gather(axis: 1, index: [0, 3, 3, 1, 2, 0], indexShape: [3, 2]) }
        check("gather axis0", [randn([3, 2])]) { $0[0].gather(axis: 0, index: [2, 0, 1, 1], indexShape: [2, 2]) }
        let mask = Tensor([1, 0, 0, 1, 1, 0], shape: [2, 1, 3])
        check("masked_fill", [randn([2, 4, 3])]) { $0[0].maskedFill(mask, -2) }
    }

    // MARK: - Softmax, norms

    func testSoftmax() {
        for _ in 0..<3 {
            let s = randomShape()
            let ax = gen.nextInt(below: s.count)
            check("softmax", [randn(s, scale: 2)]) { $0[0].softmax(axis: ax) }
            check("log_softmax", [randn(s, scale: 2)]) { $0[0].logSoftmax(axis: ax) }
        }
    }

    func testNorms() {
        check("layer_norm", [randn([2, 3, 6]), randn([6]), randn([6])]) {
            $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: 1e-5)
        }
        check("layer_norm no affine", [randn([4, 5])]) { $0[0].layerNorm(weight: nil, bias: nil, eps: 1e-6) }
        check("layer_norm d=1", [randn([3, 1]), randn([1]), randn([1])]) {
            $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: 1e-5)
        }
        check("layer_norm_2d", [randn([2, 4, 3, 2]), randn([4]), randn([4])]) {
            $0[0].layerNorm2d(weight: $0[1], bias: $0[2], eps: 1e-6)
        }
        check("rms_norm", [randn([2, 3, 6]), randn([6])]) { $0[0].rmsNorm(weight: $0[1], eps: 1e-6) }
        check("rms_norm row", [randn([1, 8]), randn([8])]) { $0[0].rmsNorm(weight: $0[1], eps: 1e-5) }
    }

    // MARK: - Convolution, interpolation

    func testConv2d() {
        check("conv 3x3 pad1", [randn([2, 3, 5, 4]), randn([4, 3, 3, 3]), randn([4])]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (1, 1), padding: (1, 1))
        }
        check("conv k4s4", [randn([1, 2, 9, 8]), randn([3, 2, 4, 4]), randn([3])]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (4, 4))
        }
        check("conv 1x1", [randn([2, 4, 3, 3]), randn([2, 4, 1, 1]), randn([2])]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2])
        }
        check("conv groups 2", [randn([1, 4, 5, 5]), randn([6, 2, 3, 3])]) {
            $0[0].conv2d(weight: $0[1], bias: nil, stride: (2, 1), padding: (1, 0), groups: 2)
        }
        check("depthwise 7x7", [randn([2, 3, 6, 5]), randn([3, 1, 7, 7]), randn([3])]) {
            $0[0].conv2d(weight: $0[1], bias: $0[2], padding: (3, 3), groups: 3)
        }
        check("depthwise x2 stride2", [randn([1, 2, 7, 6]), randn([4, 1, 3, 3])]) {
            $0[0].conv2d(weight: $0[1], bias: nil, stride: (2, 2), padding: (1, 1), groups: 2)
        }
    }

    func testInterpolate() {
        check("bilinear up", [randn([1, 2, 3, 4])]) {
            $0[0].interpolateBilinear(height: 7, width: 5, alignCorners: false)
        }
        check("bilinear down", [randn([2, 1, 9, 7])]) {
            $0[0].interpolateBilinear(height: 4, width: 3, alignCorners: false)
        }
        check("bilinear corners", [randn([1, 2, 4, 3])]) {
            $0[0].interpolateBilinear(height: 6, width: 7, alignCorners: true)
        }
        check("bilinear to 1x1", [randn([1, 1, 3, 3])]) {
            $0[0].interpolateBilinear(height: 1, width: 1, alignCorners: true)
        }
    }

    // MARK: - Attention, loss, dropout, rope

    func testAttention() {
        let pad = Tensor([1, 1, 1, 0, 1, 1, 1, 1], shape: [2, 1, 1, 4])
        check("sdpa", [randn([2, 2, 3, 4]), randn([2, 2, 4, 4]), randn([2, 2, 4, 3])]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2])
        }
        check("sdpa causal+pad", [randn([2, 2, 4, 4]), randn([2, 2, 4, 4]), randn([2, 2, 4, 4])]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: pad, isCausal: true)
        }
        check("sdpa gqa", [randn([1, 4, 3, 2]), randn([1, 2, 3, 2]), randn([1, 2, 3, 2])]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], isCausal: true, scale: 0.3)
        }
        check("sdpa decode step", [randn([1, 2, 1, 4]), randn([1, 2, 5, 4]), randn([1, 2, 5, 4])]) {
            Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], isCausal: true, causalOffset: 4)
        }
    }

    func testCrossEntropy() {
        check("ce", [randn([5, 7], scale: 2)]) { $0[0].crossEntropy(targets: [3, -100, 0, 6, 3]) }
        check("ce single", [randn([1, 3])]) { $0[0].crossEntropy(targets: [2]) }
    }

    func testDropoutAndRotary() {
        check("dropout", [randn([4, 5])]) { x in
            var g = Generator(seed: 11)  // same mask on every evaluation
            return x[0].dropout(p: 0.3, training: true, generator: &g)
        }
        let (cos, sin) = Rotary.cosSin(positions: [[0, 1, 2], [5, 6, 7]], headDim: 4, theta: 10000)
        check("rope", [randn([2, 3, 3, 4])]) { $0[0].applyingRotary(cos: cos, sin: sin) }
    }

    func testComposite() {
        // A small MLP with a loss: gradients flow through several ops and reused inputs.
        check("mlp", [randn([3, 4]), randn([5, 4]), randn([5]), randn([3, 5])]) { x in
            let h = x[0].linear(weight: x[1], bias: x[2]).gelu()
            return (h * x[3]).softmax(axis: -1).log() + h.layerNorm(weight: nil, bias: nil, eps: 1e-5)
        }
    }
}
