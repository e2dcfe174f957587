import XCTest
import MGObjects
import MGTensor
import MGTestSupport

final class BoxFeatureTests: XCTestCase {
    /// The lazy path (weight maps carried back to each stage's grid, one GEMM per stage) equals resize →
    /// concatenate → RoIAlign → mean to ≤ 1e-5, on the tiny stack's shapes and on odd ones.
    func testLazyEqualsMaterialised() {
        var gen = Generator(seed: 12)
        for (aux, sizes, channels) in [(128, [32, 16, 8, 4], [8, 16, 24, 32]), (100, [25, 13, 7, 4], [3, 5, 4, 6])] {
            let stages = zip(sizes, channels).map { Tensor.randn([1, $1, $0, $0], generator: &gen) }
            var boxes = [RoIBox(0, 0, 0, 0), RoIBox(0, 0, Float(aux), Float(aux)), RoIBox(-10, 5, 40, Float(aux) + 20)]
            for _ in 0..<10 {
                let x1 = Float(gen.nextInt(below: aux)), y1 = Float(gen.nextInt(below: aux))
                boxes.append(
                    RoIBox(x1, y1, x1 + Float(gen.nextInt(below: aux)), y1 + Float(1 + gen.nextInt(below: 30))))
            }
            let extractor = BoxFeatureExtractor()
            let lazy = extractor(stages: stages, boxes: boxes, auxSize: aux)
            let direct = extractor.materialized(stages: stages, boxes: boxes, auxSize: aux)
            XCTAssertEqual(lazy.shape, [boxes.count, channels.reduce(0, +)])
            let r = compare(lazy, direct, atol: 1e-5)
            XCTAssertTrue(r.ok, "aux \(aux): \(r.message)")
        }
    }
}
