import XCTest
import MGNN

final class LoadTests: XCTestCase {
    func testStateDictRoundTripsIntoAFreshModel() throws {
        let source = TinyModel(seed: 1), target = TinyModel(seed: 2)
        XCTAssertNotEqual(source.llmExtra.weight.value.toArray(), target.llmExtra.weight.value.toArray())
        let report = try target.load(source.stateDict())
        XCTAssertEqual(report.loaded.count, source.namedParameters().count + 1)
        XCTAssertTrue(report.missing.isEmpty && report.unexpected.isEmpty)
        for ((key, a), (_, b)) in zip(source.namedParameters(), target.namedParameters()) {
            XCTAssertEqual(a.value.toArray(), b.value.toArray(), key)
        }
    }

    func testLoadCopiesIntoOwnedStorage() throws {
        let layer = Linear(weight: Tensor.zeros([1, 2]), bias: nil)
        let source = Tensor([1, 2], shape: [1, 2])
        try layer.load(["weight": source])
        source.unsafeMutableFloats { $0[0] = 99 }
        XCTAssertEqual(layer.weight.value.toArray(), [1, 2], "parameters must not alias checkpoint memory")
    }

    func testStrictLoadListsEveryProblemAtOnce() {
        let model = TinyModel()
        var state = model.stateDict()
        let before = model.llmExtra.weight.value.toArray()
        state["llm_extra.weight"] = Tensor.ones([2, 3]).copy()  // fine, would change the value
        state.removeValue(forKey: "llm.weight")  // missing
        state.removeValue(forKey: "encoder.layers.1.scale")  // missing
        state["llm.lm_head.weight"] = Tensor.zeros([2, 2])  // unexpected
        state["projector.model.2.weight"] = Tensor.zeros([3, 4])  // wrong shape (expects [3, 3])
        state["projector.model.0.bias"] = Tensor(int64: [1, 2, 3], shape: [3])  // wrong dtype
        XCTAssertThrowsError(try model.load(state, source: "/ckpt/model.safetensors")) { error in
            guard let e = error as? LoadError else { return XCTFail("expected LoadError, got \(error)") }
            XCTAssertEqual(e.source, "/ckpt/model.safetensors")
            XCTAssertEqual(e.missing, ["encoder.layers.1.scale", "llm.weight"])
            XCTAssertEqual(e.unexpected, ["llm.lm_head.weight"])
            XCTAssertEqual(
                e.shapeMismatches,
                [.init(key: "projector.model.2.weight", expected: [3, 3], found: [3, 4])])
            XCTAssertEqual(e.dtypeMismatches, [.init(key: "projector.model.0.bias", expected: .float32, found: .int64)])
            let text = e.description
            for fragment in [
                "/ckpt/model.safetensors", "2 missing", "1 unexpected", "missing key: llm.weight",
                "missing key: encoder.layers.1.scale", "unexpected key: llm.lm_head.weight",
                "projector.model.2.weight expected [3, 3], found [3, 4]", "projector.model.0.bias"
            ] {
                XCTAssertTrue(text.contains(fragment), "\(fragment) not in:\n\(text)")
            }
        }
        XCTAssertEqual(model.llmExtra.weight.value.toArray(), before, "a failed load changes nothing")
    }

    func testNonStrictLoadToleratesKeysButNotShapes() throws {
        let model = TinyModel()
        var state = model.stateDict()
        state.removeValue(forKey: "llm.weight")
        state["extra"] = Tensor.zeros([1])
        let report = try model.load(state, strict: false)
        XCTAssertEqual(report.missing, ["llm.weight"])
        XCTAssertEqual(report.unexpected, ["extra"])
        state["llm_extra.bias"] = Tensor.zeros([5])
        XCTAssertThrowsError(try model.load(state, strict: false))
    }

    func testIgnoringExcusesDocumentedKeys() throws {
        let model = TinyModel()
        var state = model.stateDict()
        state["text_model.embeddings.weight"] = Tensor.zeros([2])
        state.removeValue(forKey: "position_ids")
        let report = try model.load(state) { $0.hasPrefix("text_model.") || $0 == "position_ids" }
        XCTAssertEqual(report.ignored, ["text_model.embeddings.weight"])
        XCTAssertTrue(report.missing.isEmpty)
        XCTAssertThrowsError(try model.load(state))
    }

    func testSixteenBitSourcesAreWidenedToFloat32() throws {
        let layer = Linear(weight: Tensor.zeros([2, 2]), bias: Tensor.zeros([2]))
        let w: [Float] = [1.0, -2.5, 0.1, 3.14159]
        let wBF16 = Tensor(w, shape: [2, 2]).converted(to: .bfloat16)
        let bF16 = Tensor([0.5, 1e-3]).converted(to: .float16)
        try layer.load(["weight": wBF16, "bias": bF16])
        XCTAssertEqual(layer.weight.value.dtype, .float32)
        XCTAssertEqual(layer.bias?.value.dtype, .float32)
        XCTAssertEqual(layer.weight.value.toArray(), wBF16.toArray())
        XCTAssertEqual(layer.weight.value.toArray()[2], 0.10009765625)  // 0.1 rounded to bf16
        XCTAssertEqual(layer.bias?.value.toArray(), bF16.toArray())
        // Still trainable after loading: a fresh leaf over the new value.
        layer(Tensor([1, 1], shape: [1, 2])).sum().backward()
        XCTAssertEqual(layer.weight.grad?.toArray(), [1, 1, 1, 1])
    }

    func testBuffersKeepTheirDtype() throws {
        let model = TinyModel()
        var state = model.stateDict()
        state["position_ids"] = Tensor(int64: [5, 6, 7], shape: [3]).converted(to: .int32)
        try model.load(state)
        XCTAssertEqual(model.positions.value.dtype, .int64)
        XCTAssertEqual(model.positions.value.toInt64Array(), [5, 6, 7])
        state["position_ids"] = Tensor([0, 1, 2])
        XCTAssertThrowsError(try model.load(state)) { error in
            XCTAssertEqual((error as? LoadError)?.dtypeMismatches.map { $0.key }, ["position_ids"])
        }
    }
}
