import XCTest
import MGLLaVA
import MGTestSupport

final class FusionTests: XCTestCase {
    func makeFusion(randomProjections: Bool) -> ConvGateFusion {
        var gen = Generator(seed: 4)
        let fusion = ConvGateFusion(lowResDim: 8, highResDim: 6)
        fusion.initialize(generator: &gen)
        if randomProjections {
            for p in [fusion.slowProj.weight, fusion.fastProj.weight] {
                p.value = Tensor.randn(p.shape, std: 0.3, generator: &gen)
            }
            for (_, p) in fusion.namedParameters() where p.shape.count == 1 {
                p.value = Tensor.randn(p.shape, std: 0.1, generator: &gen)
            }
        }
        return fusion
    }

    func testIdentityAtInitialisation() {
        var gen = Generator(seed: 1)
        let fusion = makeFusion(randomProjections: false)
        let low = Tensor.randn([2, 9, 8], generator: &gen), high = Tensor.randn([2, 6, 3, 3], generator: &gen)
        let out = withNoGrad { fusion(low: low, high: high) }
        XCTAssertEqual(out.toArray(), low.toArray(), "zero-initialised projections make the module the identity")
        let keys = fusion.namedParameters().map { $0.0 }
        XCTAssertEqual(
            keys,
            [
                "slow_conv.weight", "slow_conv.bias", "slow_proj.weight", "slow_proj.bias",
                "fast_conv.weight", "fast_conv.bias", "fast_proj.weight", "fast_proj.bias",
                "gate.0.weight", "gate.0.bias", "gate.2.weight", "gate.2.bias"
            ])
    }

    func testGradientsMatchFiniteDifferences() {
        var gen = Generator(seed: 2)
        let fusion = makeFusion(randomProjections: true)
        let low = Tensor.randn([2, 9, 8], generator: &gen), high = Tensor.randn([2, 6, 3, 3], generator: &gen)
        // Inputs.
        let r = gradCheck([low, high]) { fusion(low: $0[0], high: $0[1]) }
        XCTAssertTrue(r.ok, r.message)
        // Parameters: L = Σ out ⊙ W, analytic from backward vs central differences on sampled elements.
        let w = Tensor.randn([2, 9, 8], generator: &gen)
        fusion.zeroGrad()
        (fusion(low: low, high: high) * w).sum().backward()
        func loss() -> Double {
            let out = withNoGrad { fusion(low: low, high: high) }.toArray(), ws = w.toArray()
            return zip(out, ws).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for (name, p) in fusion.namedParameters() {
            let analytic = p.grad!.toArray()
            for i in gen.permutation(p.count).prefix(4) {
                let original = p.value.copy()
                let eps: Float = 1e-2
                var values = original.toArray()
                values[i] += eps
                p.value = Tensor(values, shape: p.shape)
                let up = loss()
                values[i] -= 2 * eps
                p.value = Tensor(values, shape: p.shape)
                let down = loss()
                p.value = original
                let numeric = (up - down) / (2 * Double(eps))
                XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 5e-3 + 2e-2 * abs(numeric), "\(name)[\(i)]")
            }
        }
    }
}
