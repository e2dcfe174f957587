import XCTest
import MGNN
import MGCheckpoint
import MGTestSupport

/// AdamW and clip_grad_norm_ against torch 2.13 (Tests/Fixtures/reference/optim.*, see the fixtures README):
/// three parameters, seven steps of given gradients, three runs.
final class OptimizerTests: XCTestCase {
    static let steps = 7

    func fixture() throws -> SafeTensorsFile {
        try SafeTensorsFile(url: Fixtures.url("reference/optim.safetensors"))
    }

    func fixtureJSON() throws -> [String: Any] {
        let data = try Data(contentsOf: Fixtures.url("reference/optim.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Fresh parameters holding the fixture's initial values (copied: the optimizer writes into them).
    func initialParameters(_ file: SafeTensorsFile) throws -> [(String, Parameter)] {
        try (0..<3).map { i in ("p\(i)", Parameter(try file.tensor("input.param.\(i)", copy: true))) }
    }

    func assertMatches(
        _ actual: Tensor?, _ file: SafeTensorsFile, _ key: String,
        sourceLine line: UInt = #line
    ) throws {
        let expected = try file.tensor(key)
        let actual = try XCTUnwrap(actual, "\(key): no tensor", line: line)
        let r = compare(actual, expected, atol: 1e-6, rtol: 1e-5)
        XCTAssertTrue(r.ok, "\(key): \(r.message)", line: line)
    }

    func setGrads(_ params: [(String, Parameter)], _ file: SafeTensorsFile, step k: Int) throws {
        for (i, (_, p)) in params.enumerated() { p.grad = try file.tensor("input.grad.step\(k).\(i)") }
    }

    // MARK: - AdamW

    func runAdamW(run: String, weightDecay: Double) throws {
        let file = try fixture()
        let params = try initialParameters(file)
        let optimizer = AdamW(params, lr: 1e-2, betas: (0.9, 0.999), eps: 1e-8, weightDecay: weightDecay)
        for k in 0..<Self.steps {
            try setGrads(params, file, step: k)
            optimizer.step()
            for (i, (_, p)) in params.enumerated() { try assertMatches(p.value, file, "\(run).param.step\(k).\(i)") }
        }
        XCTAssertEqual(optimizer.stepCount(of: "p0"), Self.steps)
    }

    func testAdamWWithoutWeightDecayMatchesTorch() throws { try runAdamW(run: "adamw_wd0", weightDecay: 0) }

    func testAdamWWithWeightDecayMatchesTorch() throws { try runAdamW(run: "adamw_wd0.05", weightDecay: 0.05) }

    func testWeightDecayPredicateSelectsParameters() throws {
        let file = try fixture()
        let params = try initialParameters(file)
        let optimizer = AdamW(params, lr: 1e-2, weightDecay: 0.05) { name, _ in name != "p1" }
        for k in 0..<Self.steps {
            try setGrads(params, file, step: k)
            optimizer.step()
        }
        try assertMatches(params[0].1.value, file, "adamw_wd0.05.param.step6.0")
        try assertMatches(params[1].1.value, file, "adamw_wd0.param.step6.1")
        try assertMatches(params[2].1.value, file, "adamw_wd0.05.param.step6.2")
    }

    func testAdamWSkipsFrozenParametersAndMissingGradients() throws {
        let file = try fixture()
        let params = try initialParameters(file)
        let initial = params.map { $0.1.value.toArray() }
        params[1].1.frozen = true
        let optimizer = AdamW(params, lr: 1e-2, weightDecay: 0.05)
        params[0].1.grad = try file.tensor("input.grad.step0.0")
        params[1].1.grad = try file.tensor("input.grad.step0.1")
        optimizer.step()
        XCTAssertNotEqual(params[0].1.value.toArray(), initial[0])
        XCTAssertEqual(params[1].1.value.toArray(), initial[1], "frozen: untouched")
        XCTAssertEqual(params[2].1.value.toArray(), initial[2], "no gradient: untouched, not even decayed")
        XCTAssertEqual([0, 1, 2].map { optimizer.stepCount(of: "p\($0)") }, [1, 0, 0])
        optimizer.zeroGrad()
        XCTAssertNil(params[0].1.grad)
    }

    func testExportedStateResumesExactly() throws {
        let file = try fixture()
        // Uninterrupted: 7 steps.
        let straight = try initialParameters(file)
        let reference = AdamW(straight, lr: 1e-2, weightDecay: 0.05)
        for k in 0..<Self.steps {
            try setGrads(straight, file, step: k)
            reference.step()
        }
        // 3 steps, export weights and state, rebuild everything, import, 4 more steps.
        let first = try initialParameters(file)
        let before = AdamW(first, lr: 1e-2, weightDecay: 0.05)
        for k in 0..<3 {
            try setGrads(first, file, step: k)
            before.step()
        }
        let state = before.exportState()
        XCTAssertEqual(state.steps, ["p0": 3, "p1": 3, "p2": 3])
        XCTAssertEqual(
            Set(state.tensors.keys), Set(["p0", "p1", "p2"].flatMap { ["exp_avg.\($0)", "exp_avg_sq.\($0)"] }))
        let resumed = first.map { ($0.0, Parameter($0.1.value.copy())) }
        let after = AdamW(resumed, lr: 1e-2, weightDecay: 0.05)
        try after.importState(state)
        for k in 3..<Self.steps {
            try setGrads(resumed, file, step: k)
            after.step()
        }
        for ((name, a), (_, b)) in zip(straight, resumed) {
            XCTAssertEqual(a.value.toArray(), b.value.toArray(), "\(name): resume must be bit-exact")
        }
    }

    func testImportStateListsEveryProblem() throws {
        let params = [("a", Parameter(Tensor.zeros([2]))), ("b", Parameter(Tensor.zeros([3])))]
        let optimizer = AdamW(params)
        let state = AdamW.State(
            tensors: [
                "exp_avg.a": Tensor.zeros([2]), "exp_avg_sq.a": Tensor.zeros([5]),
                "exp_avg.b": Tensor.zeros([3]), "exp_avg.zzz": Tensor.zeros([1])
            ],
            steps: ["a": 2, "b": 1, "c": 4])
        XCTAssertThrowsError(try optimizer.importState(state, source: "run/optimizer.safetensors")) { error in
            guard let e = error as? OptimizerStateError else { return XCTFail("\(error)") }
            XCTAssertEqual(
                e.problems,
                [
                    "exp_avg_sq.a: expected shape [2], found [5]",
                    "missing tensor exp_avg_sq.b",
                    "state for unknown parameter c",
                    "unexpected tensor exp_avg.zzz"
                ])
            XCTAssertTrue(e.description.contains("run/optimizer.safetensors"))
        }
    }

    /// `step()` equals torch's per-tensor update (`AdamW.update`, as the sharded optimizer runs it) bit for bit,
    /// with tensors above and below the parallel split, per-parameter step counts and a no-decay parameter.
    func testStepEqualsPerTensorUpdates() {
        var gen = Generator(seed: 71)
        let sizes = [1, 5000, 70_001, 3, 40_000, 2049]
        let params = sizes.enumerated().map {
            ("p\($0.offset)", Parameter(Tensor.randn([$0.element], generator: &gen)))
        }
        var reference = params.map { $0.1.value.toArray() }
        var m = sizes.map { [Float](repeating: 0, count: $0) }, v = m
        let optimizer = AdamW(params, lr: 3e-3, weightDecay: 0.1, decays: { name, _ in name != "p3" })
        for step in 1...3 {
            var grads: [[Float]] = []
            for (i, (_, p)) in params.enumerated() where !(step == 2 && i == 1) {  // p1 skips step 2
                let g = Tensor.randn([sizes[i]], generator: &gen)
                p.grad = g
                grads.append(g.toArray())
            }
            optimizer.step()
            var gi = 0
            for i in sizes.indices where !(step == 2 && i == 1) {
                let t = i == 1 && step == 3 ? 2 : step
                var g = grads[gi]
                gi += 1
                AdamW.update(
                    count: sizes[i], parameter: &reference[i], grad: &g, expAvg: &m[i], expAvgSq: &v[i], step: t,
                    lr: 3e-3, betas: (0.9, 0.999), eps: 1e-8, weightDecay: i == 3 ? 0 : 0.1)
            }
            for (i, (_, p)) in params.enumerated() {
                p.grad = nil; XCTAssertEqual(p.value.toArray(), reference[i], "p\(i) step \(step)")
            }
        }
    }

    // MARK: - Clipping

    func testClipGradNormMatchesTorch() throws {
        let file = try fixture()
        let json = try fixtureJSON()
        let clipOnly = try XCTUnwrap(json["clip_only"] as? [String: Any])
        let norms = try XCTUnwrap(clipOnly["total_norm_before"] as? [Double])
        for k in 0..<Self.steps {
            let params = try initialParameters(file)
            try setGrads(params, file, step: k)
            let norm = clipGradNorm(params.map { $0.1 }, maxNorm: 1.0)
            XCTAssertEqual(Double(norm), norms[k], accuracy: 1e-6 * norms[k], "step \(k) norm")
            for (i, (_, p)) in params.enumerated() { try assertMatches(p.grad, file, "clip.step\(k).grad_after.\(i)") }
        }
    }

    func testClipThenAdamWMatchesTorch() throws {
        let file = try fixture()
        let params = try initialParameters(file)
        let optimizer = AdamW(params, lr: 1e-2, weightDecay: 0)
        for k in 0..<Self.steps {
            try setGrads(params, file, step: k)
            clipGradNorm(params.map { $0.1 }, maxNorm: 1.0)
            for (i, (_, p)) in params.enumerated() {
                try assertMatches(p.grad, file, "clip_then_adamw_wd0.clipped_grad.step\(k).\(i)")
            }
            optimizer.step()
            for (i, (_, p)) in params.enumerated() {
                try assertMatches(p.value, file, "clip_then_adamw_wd0.param.step\(k).\(i)")
            }
        }
    }

    /// Gradients larger than one partial-sum block: the parallel total is the Double sum of squares (rounded to
    /// Float), and every gradient is scaled by the coefficient.
    func testClipGradNormOverLargeGradients() {
        var gen = Generator(seed: 72)
        let params = [150_000, 7, 65_536, 65_537].map { Parameter(Tensor.zeros([$0])) }
        for p in params { p.grad = Tensor.randn(p.value.shape, generator: &gen) }
        let before = params.map { $0.grad!.toArray() }
        let exact = before.joined().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let norm = clipGradNorm(params, maxNorm: 2)
        XCTAssertEqual(Double(norm), exact, accuracy: exact * 1e-7)
        let coefficient = 2 / (norm + 1e-6)
        for (p, g) in zip(params, before) { XCTAssertEqual(p.grad!.toArray(), g.map { $0 * coefficient }) }
    }

    /// Clipping scales in place (torch's `mul_`): a storage two gradients share is scaled once, and a gradient that
    /// is some parameter's own value storage is replaced by a scaled copy, leaving the weights alone.
    func testClipGradNormScalesSharedGradientsOnce() {
        let shared = Tensor([3, 4])
        let a = Parameter(Tensor.zeros([2])), b = Parameter(Tensor.zeros([2]))
        a.grad = shared
        b.grad = shared
        let weights = Parameter(Tensor([0, 5]))
        let c = Parameter(Tensor.zeros([2]))
        c.grad = weights.value
        let norm = clipGradNorm([a, b, c, weights], maxNorm: 1)
        XCTAssertEqual(norm, (25 + 25 + 25 as Float).squareRoot())
        let scale = 1 / (norm + 1e-6)
        XCTAssertEqual(a.grad?.toArray(), [3 * scale, 4 * scale])
        XCTAssertEqual(b.grad?.toArray(), [3 * scale, 4 * scale])
        XCTAssertEqual(c.grad?.toArray(), [0, 5 * scale])
        XCTAssertEqual(weights.value.toArray(), [0, 5], "a parameter's value is never scaled")
        XCTAssertTrue(a.grad.map { ObjectIdentifier($0.storage) } == ObjectIdentifier(shared.storage), "in place")
    }

    func testClipGradNormIgnoresParametersWithoutGradients() {
        let a = Parameter(Tensor.zeros([2])), b = Parameter(Tensor.zeros([1])), frozen = Parameter(Tensor.zeros([1]))
        a.grad = Tensor([3, 0])
        b.grad = Tensor([4])
        frozen.grad = Tensor([100])
        frozen.frozen = true
        let norm = clipGradNorm([a, b, frozen, Parameter(Tensor.zeros([1]))], maxNorm: 1)
        XCTAssertEqual(norm, 5)
        let scale: Float = 1 / (5 + 1e-6)
        XCTAssertEqual(a.grad?.toArray(), [3 * scale, 0])
        XCTAssertEqual(b.grad?.toArray(), [4 * scale])
        // Below the limit: untouched.
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(b.grad?.toArray(), [4 * scale])
    }
}
