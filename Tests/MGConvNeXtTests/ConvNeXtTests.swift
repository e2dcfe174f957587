import XCTest
import MGLLaVA
import MGTestSupport

/// ConvNeXt trunk vs timm on the tiny open_clip fixture (pickle `.bin` read by the safe reader;
/// reference/convnext.safetensors): every stage output and the RoI concat map, atol 1e-4 rtol 1e-4.
final class ConvNeXtTests: XCTestCase {
    func testStagesMatchTimm() throws {
        let trunk = try ConvNeXtTrunk.load(directory: Fixtures.url("models/convnext-tiny"))
        XCTAssertEqual(trunk.architecture.depths, [1, 1, 2, 1], "depths inferred from the keys")
        XCTAssertEqual(trunk.architecture.dims, [8, 16, 24, 32])
        let ref = try SafeTensorsFile(url: Fixtures.url("reference/convnext.safetensors"))
        let pixels = try ref.tensor("input.pixel_values")
        let stages = withNoGrad { trunk(pixels) }
        for (i, s) in stages.enumerated() {
            let r = compare(s, try ref.tensor("output.stage_\(i)"), atol: 1e-4, rtol: 1e-4)
            XCTAssertTrue(r.ok, "stage_\(i): \(r.message)")
        }
        let concat = withNoGrad { ConvNeXtTrunk.concatenatedStages(stages) }
        let r = compare(concat, try ref.tensor("output.concat"), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(r.ok, "concat: \(r.message)")
        XCTAssertTrue(trunk.namedParameters().allSatisfy { $0.0.hasPrefix("visual.trunk.") && $0.1.frozen })
    }
}
