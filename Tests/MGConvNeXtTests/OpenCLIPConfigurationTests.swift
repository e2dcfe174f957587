import Foundation
import XCTest
import MGJSON
import MGLLaVA
import MGTestSupport

/// `OpenCLIPConfiguration` from the published ConvNeXt-L config and the tiny fixture; errors name the file and the
/// nested key.
final class OpenCLIPConfigurationTests: XCTestCase {
    func testRealAndTinyConfigs() throws {
        let real = try OpenCLIPConfiguration.load(
            Fixtures.url("real-configs/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup"))
        XCTAssertEqual(real.timmModelName, "convnext_large")
        XCTAssertEqual(real.imageSize, 320)
        XCTAssertEqual(real.mean, OpenCLIPConfiguration.openAIMean)
        XCTAssertEqual(ConvNeXtArchitecture(real), .large)
        let tiny = try OpenCLIPConfiguration.load(Fixtures.url("models/convnext-tiny"))
        XCTAssertEqual(tiny.timmModelName, "convnext_mgtiny")
        XCTAssertEqual(tiny.imageSize, 128)
        XCTAssertNil(ConvNeXtArchitecture(tiny), "not a timm name: the loader infers the trunk from the weights")
        let data = try JSONEncoder().encode(tiny)
        XCTAssertEqual(try ConfigFile.decode(OpenCLIPConfiguration.self, from: data, path: "o.json"), tiny)
    }

    func testImageSizeListAndErrors() throws {
        func decode(_ json: String) throws -> OpenCLIPConfiguration {
            try ConfigFile.decode(OpenCLIPConfiguration.self, from: Data(json.utf8), path: "o.json")
        }
        let pair = try decode(
            #"{"model_cfg": {"vision_cfg": {"timm_model_name": "convnext_base", "image_size": [256, 256]}}}"#)
        XCTAssertEqual(pair.imageSize, 256)
        XCTAssertEqual(pair.std, OpenCLIPConfiguration.openAIStd)
        func key(_ json: String) -> String? {
            do { _ = try decode(json) } catch { return (error as? ConfigError)?.key }
            return nil
        }
        XCTAssertEqual(key("{}"), "model_cfg")
        XCTAssertEqual(key(#"{"model_cfg": {}}"#), "model_cfg.vision_cfg")
        XCTAssertEqual(
            key(#"{"model_cfg": {"vision_cfg": {"timm_model_name": "x"}}}"#), "model_cfg.vision_cfg.image_size")
        XCTAssertEqual(
            key(#"{"model_cfg": {"vision_cfg": {"image_size": 3}}}"#), "model_cfg.vision_cfg.timm_model_name")
        XCTAssertEqual(
            key(
                #"{"model_cfg": {"vision_cfg": {"timm_model_name": "x", "image_size": 3}}, "preprocess_cfg": {"std": [1, 0, 1]}}"#
            ),
            "preprocess_cfg")
    }
}
