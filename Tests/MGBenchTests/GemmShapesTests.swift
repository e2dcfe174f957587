import MGBench
import MGLLaVA
import XCTest

/// The bounds' GEMM shape tables derived from the presets are the ones the benchmarks used to spell out.
final class GemmShapesTests: XCTestCase {
    func testVisionShapes() {
        let clip = VisionGemmShapes.clipLayers(.vitL14_336, layers: 24)
        XCTAssertEqual(
            clip.map { [$0.0, $0.1, $0.2, $0.3] },
            [
                [577, 1024, 1024, 96], [577, 1024, 4096, 24], [577, 4096, 1024, 24], [577, 64, 577, 384],
                [577, 577, 64, 384]
            ])
        XCTAssertEqual(
            VisionGemmShapes.clipPatchEmbedding(.vitL14_336).map { [$0.0, $0.1, $0.2, $0.3] }, [[576, 588, 1024, 1]])
        XCTAssertEqual(VisionGemmShapes.convNeXtGridSizes(.large, imageSize: 768), [192, 96, 48, 24])
        let convnext = VisionGemmShapes.convNeXt(.large, imageSize: 768)
        XCTAssertEqual(
            convnext.map { [$0.0, $0.1, $0.2, $0.3] },
            [
                [36864, 48, 192, 1], [36864, 192, 768, 3], [36864, 768, 192, 3],
                [9216, 768, 384, 1], [9216, 384, 1536, 3], [9216, 1536, 384, 3],
                [2304, 1536, 768, 1], [2304, 768, 3072, 27], [2304, 3072, 768, 27],
                [576, 3072, 1536, 1], [576, 1536, 6144, 3], [576, 6144, 1536, 3]
            ])
    }

    func testDecoderLayerShapes() {
        let (forward, backward) = TrainStepBench.layerShapes(TrainStepBench.layerArchitecture, sequence: 16)
        XCTAssertEqual(
            forward.map { [$0.0, $0.1, $0.2, $0.3] },
            [
                [16, 4096, 4096, 4], [16, 4096, 11008, 2], [16, 11008, 4096, 1], [16, 4096, 1000, 1], [16, 128, 16, 32],
                [16, 16, 128, 32]
            ])
        XCTAssertEqual(backward.count, 10)
        XCTAssertEqual(RawGemmSeries.flops([(2, 3, 4, 5)]), 240)
    }
}
