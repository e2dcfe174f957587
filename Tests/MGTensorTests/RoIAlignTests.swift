import XCTest
import MGTensor
import MGCheckpoint
import MGTestSupport

/// RoIAlign vs torchvision's compiled CPU kernel (Tests/Fixtures/reference/ops-roi_align.safetensors): boxes inside,
/// partly outside, degenerate, entirely outside, sub-pixel, the [0,0,0,0] dummy; aligned false/true; sampling
/// ratio −1 and 2; output 7 and 56; two spatial scales.
final class RoIAlignTests: XCTestCase {
    func boxes(_ file: SafeTensorsFile, scale: String) throws -> [RoIBox] {
        var result: [RoIBox] = []
        for image in 0..<2 {
            let b = try file.tensor("input.boxes_scale\(scale)_image\(image)").toArray()
            for k in 0..<4 {
                result.append(RoIBox(batchIndex: image, b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]))
            }
        }
        return result
    }

    func testMatchesTorchvision() throws {
        let f = try SafeTensorsFile(url: Fixtures.url("reference/ops-roi_align.safetensors"))
        let x = try f.tensor("input.x")
        var checked = 0
        for (scale, outs) in [("0.25", [7, 56]), ("0.03125", [7])] {
            let roi = try boxes(f, scale: scale)
            for out in outs {
                for aligned in [false, true] {
                    for sr in [-1, 2] {
                        let name = "scale\(scale)_aligned\(aligned ? 1 : 0)_sr\(sr)_out\(out)"
                        let spec = RoIAlignSpec(
                            outputSize: out, spatialScale: Float(scale)!, samplingRatio: sr, aligned: aligned)
                        let leaf = x.requiringGrad()
                        let y = leaf.roiAlign(boxes: roi, spec)
                        let r = compare(y, try f.tensor("output.\(name)"), atol: 1e-5)
                        XCTAssertTrue(r.ok, "\(name): \(r.message)")
                        y.backward(try f.tensor("input.grad_output_\(out)"))
                        let g = compare(leaf.grad!, try f.tensor("grad.\(name).x"), atol: 1e-4)
                        XCTAssertTrue(g.ok, "grad \(name): \(g.message)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, 12)
    }

    func testGradientCheck() {
        var gen = Generator(seed: 8)
        let x = Tensor.randn([2, 2, 6, 7], generator: &gen)
        let boxes = [
            RoIBox(batchIndex: 0, 2.2, 3.1, 17.5, 20.3), RoIBox(batchIndex: 1, -3, 4, 12, 30),
            RoIBox(batchIndex: 1, 0, 0, 0, 0)
        ]
        for aligned in [false, true] {
            let spec = RoIAlignSpec(outputSize: 3, spatialScale: 0.25, samplingRatio: -1, aligned: aligned)
            let r = gradCheck([x]) { $0[0].roiAlign(boxes: boxes, spec) }
            XCTAssertTrue(r.ok, r.message)
        }
    }

    func testMeanWeightsEqualTheMeanOverBins() {
        var gen = Generator(seed: 9)
        let x = Tensor.randn([1, 3, 9, 11], generator: &gen)
        let boxes = [RoIBox(4, 5, 30, 33), RoIBox(-5, 2, 10, 50), RoIBox(0, 0, 0, 0), RoIBox(40, 40, 44, 47)]
        let spec = RoIAlignSpec(outputSize: 7, spatialScale: 0.25)
        let direct = x.roiAlign(boxes: boxes, spec).mean(axes: [2, 3])  // [K, C]
        let weights = Tensor.roiAlignMeanWeights(boxes: boxes, height: 9, width: 11, spec)  // [K, H·W]
        let viaWeights = weights.matmul(x.reshaped([3, 99]), transposeB: true)  // [K, C]
        let r = compare(viaWeights, direct, atol: 1e-6)
        XCTAssertTrue(r.ok, r.message)
    }
}
