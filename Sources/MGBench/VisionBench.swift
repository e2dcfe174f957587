import Foundation
import MGLLaVA

/// `mgllava bench vision`: MG-LLaVA's vision side at real sizes with random weights — CLIP ViT-L/14-336 at batch 1,
/// ConvNeXt-L at 768, the Conv-Gate fusion, box features for 100 boxes — each as time and GFLOP/s, and as a ratio to
/// the time raw sgemm takes for exactly the model's own GEMM shapes, measured in the same run.
public struct VisionBench {
    /// Timed runs per part (the fastest is kept).
    public var repeats: Int
    /// Boxes for the box-feature row.
    public var boxes: Int

    public init(repeats: Int, boxes: Int) {
        self.repeats = repeats
        self.boxes = boxes
    }

    /// Builds the towers, times each part and returns the measurements; `log` receives the progress line.
    public func run(log: (String) -> Void) -> VisionBenchResult {
        var gen = Generator(seed: 0)
        log("building CLIP ViT-L/14-336 and ConvNeXt-L with random weights…")
        let clipArch = CLIPVisionArchitecture.vitL14_336, convArch = ConvNeXtArchitecture.large
        let auxSize = BenchInputs.auxImageSize
        let clip = CLIPVisionModel(clipArch)
        RandomWeights.randomize(clip, &gen)
        let trunk = ConvNeXtTrunk(convArch)
        RandomWeights.randomize(trunk, &gen)
        let fusion = ConvGateFusion(lowResDim: clipArch.hiddenSize, highResDim: convArch.dims[convArch.dims.count - 1])
        fusion.initialize(generator: &gen)
        RandomWeights.randomize(fusion, &gen)
        let pixels = Tensor.randn([1, clipArch.numChannels, clipArch.imageSize, clipArch.imageSize], generator: &gen)
        let pixelsAux = Tensor.randn([1, convArch.inChannels, auxSize, auxSize], generator: &gen)
        var r = VisionBenchResult(boxes: boxes)

        // CLIP: 24 layers of 577 tokens; FLOPs of the linears and of attention.
        let tokens = Double(clipArch.numPositions), d = Double(clipArch.hiddenSize),
            f = Double(clipArch.intermediateSize)
        let clipLinear: Double = 2 * tokens * d * d * 4 + 2 * tokens * d * f * 2
        let clipAttention: Double = 2 * 2 * tokens * tokens * d
        r.clipFlops = Double(clipArch.numHiddenLayers) * (clipLinear + clipAttention)
        // The bound: raw sgemm on exactly the model's own GEMM shapes (q, k, v, o; fc1; fc2; per head QKᵀ and PV),
        // timed in alternation with the forward so that both see the same machine.
        let clipRaw = RawGemmSeries(VisionGemmShapes.clipLayers(clipArch, layers: clipArch.numHiddenLayers))
        ResidentMemory.resetPeak()
        let clipTimes = BenchTiming.interleaved(
            repeats: repeats, [{ _ = withNoGrad { clip(pixels) } }, { clipRaw.run() }])
        (r.clipTime, r.clipGemm) = (clipTimes[0], clipTimes[1])
        r.clipRSS = ResidentMemory.peak()

        // ConvNeXt-L at 768: FLOPs of every conv and linear (depthwise included).
        let dims = convArch.dims, depths = convArch.depths
        let sizes = VisionGemmShapes.convNeXtGridSizes(convArch, imageSize: auxSize)
        // stem: 192 channels × 4·4·3 taps per output pixel
        var convFlops = 2.0 * Double(dims[0]) * Double(16 * convArch.inChannels) * Double(sizes[0] * sizes[0])
        for s in 0..<dims.count {
            let px = Double(sizes[s] * sizes[s]), c = Double(dims[s])
            if s > 0 { convFlops += 2 * px * c * Double(dims[s - 1]) * 4 }
            let block: Double = 2 * px * c * 49 + 2 * 2 * px * c * 4 * c
            convFlops += Double(depths[s]) * block
        }
        r.convFlops = convFlops
        // The bound: raw sgemm on the trunk's GEMM shapes (stem and downsample convs as im2col GEMMs, block MLPs);
        // the depthwise 7×7 convs are not GEMMs and count as overhead.
        let convRaw = RawGemmSeries(VisionGemmShapes.convNeXt(convArch, imageSize: auxSize))
        var stages: [Tensor] = []
        ResidentMemory.resetPeak()
        let convTimes = BenchTiming.interleaved(
            repeats: repeats, [{ stages = withNoGrad { trunk(pixelsAux) } }, { convRaw.run() }])
        (r.convTime, r.convGemm) = (convTimes[0], convTimes[1])
        r.convRSS = ResidentMemory.peak()

        // Fusion on the real grids.
        let low = Tensor.randn([1, clipArch.numPatches, clipArch.hiddenSize], generator: &gen)
        ResidentMemory.resetPeak()
        r.fusionTime = BenchTiming.interleaved(repeats: repeats) {
            _ = withNoGrad { fusion(low: low, high: stages[3]) }
        }
        let (lo, hi) = (clipArch.hiddenSize, dims[dims.count - 1])
        let fusionMACs: Int = hi * hi + hi * lo + lo * lo + lo * 49  // per token
        r.fusionFlops = Double(2 * clipArch.numPatches) * Double(fusionMACs)
        r.fusionRSS = ResidentMemory.peak()

        // Box features: random boxes in the 768 frame.
        let roi = RandomInputs.boxes(boxes, &gen)
        r.rssBeforeBoxes = ResidentMemory.current()
        ResidentMemory.resetPeak()
        let extractor = BoxFeatureExtractor()
        r.boxTime = BenchTiming.interleaved(repeats: repeats) {
            _ = extractor(stages: stages, boxes: roi, auxSize: auxSize)
        }
        r.boxRSS = ResidentMemory.peak()
        for (c, s) in zip(dims, sizes) { r.boxGemmFlops += 2 * Double(boxes * c * s * s) }
        r.featureMapFloats = dims.reduce(0, +) * sizes[0] * sizes[0]
        return r
    }
}
