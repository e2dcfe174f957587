import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// `mgllava features` on the tiny fixture stack reproduces the reference's intermediates for photo0 with the case0
/// boxes (sample 0 of reference/mgllava-e2e-*): decode → preprocess → boxes → CLIP → ConvNeXt → fusion → RoI → projectors.
final class FeaturesCommandTests: XCTestCase {
    func testFeaturesMatchTheReference() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("features.safetensors")
        let r = try runCLI([
            "features", "--visual-encoder", Fixtures.url("models/clip-vit-tiny").path,
            "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path,
            "--pth", Fixtures.url("models/mgllava-tiny/pretrain.pth").path, "--image-size-aux", "128",
            "--image", Fixtures.url("preprocess/photo0.jpg").path,
            "--boxes", Fixtures.url("preprocess/boxes.json").path, "--box-id", "case0", "--out", out.path
        ])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let got = try SafeTensorsFile(url: out)
        let inputs = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-inputs.safetensors"))
        let stage = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-pretrain.safetensors"))
        func check(_ key: String, _ expected: Tensor, atol: Float, line: UInt = #line) throws {
            let c = compare(try got.tensor(key), expected, atol: atol, rtol: 1e-4)
            XCTAssertTrue(c.ok, "\(key): \(c.message)", line: line)
        }
        try check("pixel_values_aux", try inputs.tensor("input.pixel_values_aux").select(axis: 0, 0), atol: 1e-6)
        try check("pixel_values", try inputs.tensor("input.pixel_values").select(axis: 0, 0), atol: 1e-6)
        try check("boxes", try inputs.tensor("input.boxes_0"), atol: 0)
        try check("clip_features", try inputs.tensor("output.clip_features").select(axis: 0, 0), atol: 1e-5)
        try check("convnext_stage_3", try inputs.tensor("output.convnext_stage_3").select(axis: 0, 0), atol: 1e-4)
        try check("fused", try stage.tensor("output.fused").select(axis: 0, 0), atol: 1e-5)
        try check("image_tokens", try stage.tensor("output.projector").select(axis: 0, 0), atol: 1e-5)
        try check("box_features", try stage.tensor("output.roi_mean_0"), atol: 1e-5)
        try check("box_tokens", try stage.tensor("output.bbox_projector_0"), atol: 1e-5)
    }

    func testBadInputsAreReported() throws {
        let common = [
            "features", "--visual-encoder", Fixtures.url("models/clip-vit-tiny").path,
            "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path, "--image-size-aux", "128",
            "--out", "/tmp/unused.safetensors"
        ]
        let missingImage = try runCLI(common + ["--image", "/nonexistent/photo.jpg"])
        XCTAssertNotEqual(missingImage.status, 0)
        XCTAssertTrue(missingImage.stderr.contains("/nonexistent/photo.jpg"), missingImage.stderr)
        let badId = try runCLI(
            common + [
                "--image", Fixtures.url("preprocess/photo0.jpg").path,
                "--boxes", Fixtures.url("preprocess/boxes.json").path, "--box-id", "case99"
            ])
        XCTAssertNotEqual(badId.status, 0)
        XCTAssertTrue(badId.stderr.contains("case99"), badId.stderr)
    }
}
