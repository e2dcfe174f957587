import CKernels
import XCTest

@testable import MGTensor
import MGTestSupport

/// Fused element-wise kernels against the unfused compositions they replace, bit for bit, at every vector level
/// this CPU runs (AVX-512, AVX2, baseline): a fused kernel may change the speed of a training run, never its numbers.
final class FusedKernelTests: XCTestCase {
    override func tearDown() {
        mg_limit_vector_level(2)
        super.tearDown()
    }

    /// Values across silu's regimes: large negative (exp overflows to the clamp), near zero, large positive.
    private func gateValues(_ shape: [Int], _ gen: inout Generator) -> Tensor {
        var v = Tensor.randn(shape, std: 4, generator: &gen).toArray()
        let special: [Float] = [0, -0.0, 1e-8, -90, 90, -87.4, 88.5, 1e-30]
        for (i, x) in special.enumerated() where i < v.count { v[i] = x }
        return Tensor(v, shape: shape)
    }

    func testSiluMulEqualsSiluTimesUpBitForBit() {
        var gen = Generator(seed: 61)
        for level in [2, 1, 0] {
            mg_limit_vector_level(Int32(level))
            for shape in [[1], [7], [3, 17], [2, 5, 33], [64, 130]] {
                let gate = gateValues(shape, &gen).requiringGrad()
                let up = Tensor.randn(shape, generator: &gen).requiringGrad()
                let g = Tensor.randn(shape, generator: &gen)
                let fused = gate.siluMul(up)
                (fused * g).sum().backward()
                let fusedGrads = (gate.grad!.toArray(), up.grad!.toArray())
                let gate2 = gate.detached().requiringGrad(), up2 = up.detached().requiringGrad()
                let unfused = gate2.silu() * up2
                (unfused * g).sum().backward()
                XCTAssertEqual(fused.toArray(), unfused.toArray(), "level \(level) \(shape) forward")
                XCTAssertEqual(fusedGrads.0, gate2.grad!.toArray(), "level \(level) \(shape) d gate")
                XCTAssertEqual(fusedGrads.1, up2.grad!.toArray(), "level \(level) \(shape) d up")
            }
        }
    }

    /// Only the inputs that need a gradient get one, and each equals the one computed with both.
    func testSiluMulGradientOfOneInput() {
        var gen = Generator(seed: 62)
        let shape = [9, 40]
        let gateValues = gateValues(shape, &gen), upValues = Tensor.randn(shape, generator: &gen)
        let g = Tensor.randn(shape, generator: &gen)
        let both = (gateValues.requiringGrad(), upValues.requiringGrad())
        (both.0.siluMul(both.1) * g).sum().backward()
        let gateOnly = gateValues.requiringGrad()
        (gateOnly.siluMul(upValues) * g).sum().backward()
        XCTAssertEqual(gateOnly.grad!.toArray(), both.0.grad!.toArray())
        let upOnly = upValues.requiringGrad()
        (gateValues.siluMul(upOnly) * g).sum().backward()
        XCTAssertEqual(upOnly.grad!.toArray(), both.1.grad!.toArray())
    }
}
