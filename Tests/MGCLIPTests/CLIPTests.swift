import XCTest
import MGLLaVA
import MGTestSupport

/// CLIP vision tower vs HF transformers' `CLIPVisionModel` on the tiny fixture model (Tests/Fixtures/models/
/// clip-vit-tiny, reference/clip.safetensors; see Tests/Fixtures/README.md).
final class CLIPTests: XCTestCase {
    func testHiddenStatesMatchTransformers() throws {
        let model = try CLIPVisionModel.load(directory: Fixtures.url("models/clip-vit-tiny"))
        let ref = try SafeTensorsFile(url: Fixtures.url("reference/clip.safetensors"))
        let pixels = try ref.tensor("input.pixel_values")
        let out = withNoGrad { model(pixels) }
        XCTAssertEqual(out.hiddenStates.count, 4)
        for i in 0..<4 {
            let r = compare(out.hiddenStates[i], try ref.tensor("output.hidden_states.\(i)"), atol: 1e-5, rtol: 1e-4)
            XCTAssertTrue(r.ok, "hidden_states.\(i): \(r.message)")
        }
        let last = compare(out.lastHiddenState, try ref.tensor("output.last_hidden_state"), atol: 1e-5, rtol: 1e-4)
        XCTAssertTrue(last.ok, "last_hidden_state: \(last.message)")
        let pooled = compare(out.poolerOutput, try ref.tensor("output.pooler_output"), atol: 1e-5, rtol: 1e-4)
        XCTAssertTrue(pooled.ok, "pooler_output: \(pooled.message)")
        // MG-LLaVA's feature: layer −2 without CLS.
        let features = withNoGrad { model.features(pixels, selectLayer: -2) }
        let f = compare(features, try ref.tensor("output.features"), atol: 1e-5, rtol: 1e-4)
        XCTAssertTrue(f.ok, "features: \(f.message)")
    }

    func testLoadingIsStrictAndIgnoresTheTextTower() throws {
        let model = try CLIPVisionModel.load(directory: Fixtures.url("models/clip-vit-tiny"))
        let keys = model.namedParameters().map { $0.0 }
        XCTAssertTrue(keys.contains("vision_model.pre_layrnorm.weight"))
        XCTAssertTrue(keys.contains("vision_model.encoder.layers.2.self_attn.q_proj.bias"))
        XCTAssertTrue(keys.allSatisfy { $0.hasPrefix("vision_model.") })
        XCTAssertEqual(model.trainableParameterCount, 0, "the tower is frozen")
        // A missing tower key is an error that names it.
        var state = model.stateDict()
        state.removeValue(forKey: "vision_model.encoder.layers.1.mlp.fc1.weight")
        state["vision_model.encoder.layers.1.mlp.fc3.weight"] = Tensor.zeros([1])
        XCTAssertThrowsError(try model.load(state, source: "test")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("vision_model.encoder.layers.1.mlp.fc1.weight"), text)
            XCTAssertTrue(text.contains("vision_model.encoder.layers.1.mlp.fc3.weight"), text)
        }
    }
}
