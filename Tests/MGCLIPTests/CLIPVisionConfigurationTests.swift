import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// `CLIPVisionConfiguration` from a full CLIPModel config (`vision_config`), a `clip_vision_model` config (the top
/// level) and the tiny fixture; errors name the file and the nested key.
final class CLIPVisionConfigurationTests: XCTestCase {
    func testRealAndTinyConfigs() throws {
        let real = try CLIPVisionConfiguration.load(Fixtures.url("real-configs/clip-vit-large-patch14-336"))
        XCTAssertEqual(real.hiddenSize, 1024)
        XCTAssertEqual(real.numHiddenLayers, 24)
        XCTAssertEqual(real.imageSize, 336)
        XCTAssertEqual(real.patchSize, 14)
        XCTAssertEqual(real.gridSize, 24)
        XCTAssertEqual(real.hiddenAct, "quick_gelu")
        XCTAssertEqual(real.layerNormEps, 1e-5)
        XCTAssertEqual(CLIPVisionArchitecture(real), .vitL14_336)
        let tiny = try CLIPVisionConfiguration.load(Fixtures.url("models/clip-vit-tiny"))
        XCTAssertEqual(tiny.hiddenSize, 32)
        XCTAssertEqual(tiny.imageSize, 56)
        XCTAssertEqual(tiny.numHiddenLayers, 3)
    }

    func testTopLevelVisionModelConfigAndRoundTrip() throws {
        let tower = CLIPVisionConfiguration(
            hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, imageSize: 28,
            patchSize: 14)
        var object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(tower)) as? [String: Any])
        XCTAssertEqual(object["num_attention_heads"] as? Int, 4)
        object["model_type"] = "clip_vision_model"
        let data = try JSONSerialization.data(withJSONObject: object)
        XCTAssertEqual(try CLIPVisionConfiguration.decode(data, path: "c.json"), tower)
    }

    func testErrorsNameFileAndNestedKey() throws {
        func error(_ json: String) -> ConfigError? {
            do {
                _ = try CLIPVisionConfiguration.decode(Data(json.utf8), path: "c.json")
                return nil
            } catch { return error as? ConfigError }
        }
        let sizes = #""hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "image_size": 28"#
        let e1 = error(
            #"{"model_type": "clip", "vision_config": {\#(sizes), "num_attention_heads": 5, "patch_size": 14}}"#)
        XCTAssertEqual(e1?.path, "c.json")
        XCTAssertEqual(e1?.key, "vision_config.num_attention_heads")
        XCTAssertTrue(e1?.reason.contains("does not divide") ?? false, "\(String(describing: e1))")
        let e2 = error(#"{"model_type": "clip_vision_model", \#(sizes), "num_attention_heads": 4}"#)
        XCTAssertEqual(e2?.key, "patch_size")
        XCTAssertEqual(e2?.reason, "required field is missing")
        let e3 = error(#"{"model_type": "clip"}"#)
        XCTAssertEqual(e3?.key, "vision_config")
        XCTAssertTrue(e3?.reason.contains("required field is missing") ?? false)
        let e4 = error(#"{"vision_config_dict": {\#(sizes), "num_attention_heads": 4, "patch_size": 0}}"#)
        XCTAssertEqual(e4?.key, "vision_config_dict.patch_size")
        XCTAssertTrue(e4?.reason.contains("must be positive") ?? false)
    }
}
