import XCTest
import MGNN

final class LayerTests: XCTestCase {
    func assertClose(
        _ actual: [Float], _ expected: [Float], tolerance: Float = 1e-5,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, "count", file: file, line: line)
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            XCTAssertEqual(a, e, accuracy: tolerance, "element \(i): \(actual) vs \(expected)", file: file, line: line)
        }
    }

    func testLinearForward() {
        let layer = Linear(weight: Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2]), bias: Tensor([0.5, -1, 0]))
        XCTAssertEqual(layer.inFeatures, 2)
        XCTAssertEqual(layer.outFeatures, 3)
        // [1, −1]·Wᵀ + b = [1−2+0.5, 3−4−1, 5−6+0]
        XCTAssertEqual(layer(Tensor([1, -1], shape: [1, 2])).toArray(), [-0.5, -2, -1])
        XCTAssertEqual(layer(Tensor([1, -1, 0, 1], shape: [2, 1, 2])).shape, [2, 1, 3])
    }

    func testConv2dForward() {
        let x = Tensor((1...9).map { Float($0) }, shape: [1, 1, 3, 3])
        let conv = Conv2d(weight: Tensor.ones([1, 1, 2, 2]), bias: Tensor([1]))
        // Each output is the sum of a 2×2 window plus 1.
        XCTAssertEqual(conv(x).toArray(), [13, 17, 25, 29])
        let padded = Conv2d(weight: Tensor.ones([1, 1, 2, 2]), bias: Tensor([1]), stride: (2, 2), padding: (1, 1))
        // Windows over the zero-padded 5×5 at rows/cols {−1,0} and {1,2}: {1}, {2,3}, {4,7}, {5,6,8,9}.
        XCTAssertEqual(padded(x).toArray(), [2, 6, 12, 29])
        var gen = Generator(seed: 1)
        let depthwise = Conv2d(4, 8, kernelSize: 3, padding: 1, groups: 4).initialize(generator: &gen)
        XCTAssertEqual(depthwise.weight.shape, [8, 1, 3, 3])
        XCTAssertEqual(depthwise.inChannels, 4)
        XCTAssertEqual(depthwise(Tensor.ones([2, 4, 5, 5])).shape, [2, 8, 5, 5])
    }

    func testLayerNormForward() throws {
        let norm = LayerNorm(4)
        XCTAssertEqual(norm.weight?.value.toArray(), [1, 1, 1, 1])
        XCTAssertEqual(norm.bias?.value.toArray(), [0, 0, 0, 0])
        try norm.load(["weight": Tensor([1, 1, 2, 2]), "bias": Tensor([0, 0, 0, 1])])
        // mean 2.5, biased variance 1.25
        let r = 1 / (1.25 + 1e-5 as Float).squareRoot()
        assertClose(
            norm(Tensor([1, 2, 3, 4], shape: [1, 4])).toArray(),
            [-1.5 * r, -0.5 * r, 2 * 0.5 * r, 2 * 1.5 * r + 1])
        XCTAssertTrue(LayerNorm(4, affine: false).ownParameters.isEmpty)

        let norm2d = LayerNorm2d(2)
        // Per pixel over the 2 channels: (a, b) → (−1, 1)·|a−b|/√((a−b)²+4eps) ≈ ±1.
        let y = norm2d(Tensor([0, 2, 4, 10, 1, 3, 5, 11], shape: [1, 2, 2, 2])).toArray()
        assertClose(y, [-1, -1, -1, -1, 1, 1, 1, 1], tolerance: 1e-4)
    }

    func testRMSNormForward() throws {
        let norm = RMSNorm(2, eps: 1e-6)
        XCTAssertEqual(norm.ownParameters.map { $0.0 }, ["weight"])
        try norm.load(["weight": Tensor([1, 2])])
        // mean(x²) = 12.5
        let r = 1 / (12.5 + 1e-6 as Float).squareRoot()
        assertClose(norm(Tensor([3, 4], shape: [1, 2])).toArray(), [3 * r, 8 * r])
    }

    func testEmbeddingLookup() {
        let embedding = Embedding(weight: Tensor([0, 1, 2, 3, 4, 5], shape: [3, 2]))
        XCTAssertEqual(embedding([2, 0], shape: [2]).toArray(), [4, 5, 0, 1])
        let out = embedding(Tensor(int64: [1, 1, 2, 0], shape: [2, 2]))
        XCTAssertEqual(out.shape, [2, 2, 2])
        XCTAssertEqual(out.toArray(), [2, 3, 2, 3, 4, 5, 0, 1])
    }

    func testActivations() {
        let x = Tensor([1, -1])
        assertClose(Activation.gelu(x).toArray(), [0.8413447, -0.1586553])
        assertClose(Activation.geluTanh(x).toArray(), [0.8411920, -0.1588080])
        assertClose(Activation.quickGelu(x).toArray(), [0.8457957, -0.1542043])
        assertClose(Activation.silu(x).toArray(), [0.7310586, -0.2689414])
        XCTAssertEqual(Activation.relu(x).toArray(), [1, 0])
        XCTAssertEqual(ActivationLayer(.relu)(x).toArray(), [1, 0])
        XCTAssertTrue(ActivationLayer(.gelu).namedParameters().isEmpty)
    }

    func testMLPAndSequential() {
        let fc1 = Linear(weight: Tensor([1, -1], shape: [1, 2]), bias: Tensor([0]))
        let fc2 = Linear(weight: Tensor([2, 3], shape: [2, 1]), bias: Tensor([1, 0]))
        let mlp = MLP(fc1: fc1, fc2: fc2, activation: .relu)
        XCTAssertEqual(mlp.namedParameters().map { $0.0 }, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        // h = relu(x0 − x1); y = [2h + 1, 3h]
        XCTAssertEqual(mlp(Tensor([3, 1, 1, 3], shape: [2, 2])).toArray(), [5, 6, 1, 0])

        let sequential = Sequential(fc1, ActivationLayer(.relu), fc2)
        XCTAssertEqual(sequential.namedParameters().map { $0.0 }, ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(sequential(Tensor([3, 1, 1, 3], shape: [2, 2])).toArray(), [5, 6, 1, 0])

        var gen = Generator(seed: 9)
        let named = MLP(4, hidden: 8, activation: .silu, names: ("gate", "down")).initialize(generator: &gen)
        XCTAssertEqual(named.namedParameters().map { $0.0 }, ["gate.weight", "gate.bias", "down.weight", "down.bias"])
        XCTAssertEqual(named.fc2.outFeatures, 4)
    }

    func testDefaultInitialisationFollowsPyTorch() {
        var gen = Generator(seed: 42)
        let linear = Linear(64, 32).initialize(generator: &gen)
        let bound: Float = 1 / 8  // 1/√64
        for values in [linear.weight.value.toArray(), linear.bias!.value.toArray()] {
            XCTAssertTrue(values.allSatisfy { abs($0) <= bound })
        }
        let w = linear.weight.value.toArray()
        let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
        XCTAssertEqual(std, bound / Float(3).squareRoot(), accuracy: 0.005, "U(−b, b) has std b/√3")

        // Conv fan_in = in/groups · kH · kW = 2 · 3 · 3.
        let conv = Conv2d(4, 6, kernelSize: 3, groups: 2).initialize(generator: &gen)
        let convBound = 1 / Float(18).squareRoot()
        let cw = conv.weight.value.toArray()
        XCTAssertTrue(cw.allSatisfy { abs($0) <= convBound })
        XCTAssertGreaterThan(cw.map { abs($0) }.max()!, 0.8 * convBound)

        let embedding = Embedding(1000, 8).initialize(generator: &gen).weight.value.toArray()
        let mean = embedding.reduce(0, +) / Float(embedding.count)
        let variance = embedding.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(embedding.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05)
        XCTAssertEqual(variance, 1, accuracy: 0.05)

        // Same seed, same weights.
        var a = Generator(seed: 7), b = Generator(seed: 7)
        XCTAssertEqual(
            Linear(3, 3).initialize(generator: &a).weight.value.toArray(),
            Linear(3, 3).initialize(generator: &b).weight.value.toArray())
    }
}
