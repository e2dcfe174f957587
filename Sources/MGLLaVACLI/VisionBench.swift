import ArgumentParser
import COpenBLAS
import Foundation
import MGLLaVA

/// `mgllava bench vision`: MG-LLaVA's vision side at real sizes with random weights — CLIP ViT-L/14-336 at batch 1,
/// ConvNeXt-L at 768, the Conv-Gate fusion, box features for 100 boxes — each as time and GFLOP/s, and as a ratio to
/// the time raw sgemm takes for exactly the model's own GEMM shapes, measured in the same run.
struct VisionBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "CLIP ViT-L/14-336, ConvNeXt-L at 768, fusion and 100-box features vs the sgemm rate (release build).")

    @Option(help: "Timed runs per part (the fastest is kept).")
    var repeats: Int = 3

    @Option(help: "Boxes for the box-feature row.")
    var boxes: Int = 100

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, boxes >= 1 else { throw ValidationError("--repeats and --boxes must be at least 1") }
    }

    static func randomize(_ module: Module, _ gen: inout Generator) {
        for (_, p) in module.namedParameters() {
            // Uniform is much cheaper to draw than normal at these sizes; values only need to be non-trivial
            // (zero pages would all alias one physical page and flatter the memory traffic).
            let bound: Float = p.shape.count == 1 ? 0.1 : 0.04
            p.value = Tensor.rand(p.shape, low: -bound, high: bound, generator: &gen) + (p.shape.count == 1 ? 1 : 0)
        }
    }

    /// `count` random boxes of at least 8 px inside the 768 aux frame.
    static func randomBoxes(_ count: Int, _ gen: inout Generator) -> [RoIBox] {
        (0..<count).map { _ in
            let x = gen.nextInt(below: 700), y = gen.nextInt(below: 700)
            let w = 8 + gen.nextInt(below: 760 - x), h = 8 + gen.nextInt(below: 760 - y)
            return RoIBox(Float(x), Float(y), Float(x + w), Float(y + h))
        }
    }

    /// Raw sgemm C[m,n] = A[m,k]·B[n,k]ᵀ for every (m, k, n, count) shape, `count` times each: the model's GEMM
    /// work alone, as one closure so it can be timed interleaved with the model's forward.
    final class RawGemmSeries {
        var operands: [(Tensor, Tensor, UnsafeMutablePointer<Float>, Int, Int, Int, Int)] = []
        init(_ shapes: [(Int, Int, Int, Int)]) {
            var gen = Generator(seed: 3)
            for (m, k, n, count) in shapes {
                operands.append((Tensor.rand([m, k], generator: &gen), Tensor.rand([n, k], generator: &gen),
                                 UnsafeMutablePointer<Float>.allocate(capacity: m * n), m, k, n, count))
            }
        }
        deinit { for o in operands { o.2.deallocate() } }
        func run() {
            for (a, b, c, m, k, n, count) in operands {
                for _ in 0..<count {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.storage.floats,
                                Int32(k), b.storage.floats, Int32(k), 0, c, Int32(n))
                }
            }
        }
    }

    /// ConvNeXt-L at 768 as GEMMs (m, k, n, count): the stem and downsample convs as im2col GEMMs and the block
    /// MLPs; the depthwise 7×7 convs are not GEMMs.
    static func convNeXtLargeShapes() -> [(Int, Int, Int, Int)] {
        let dims = [192, 384, 768, 1536], depths = [3, 3, 27, 3], sizes = [192, 96, 48, 24]
        var shapes = [(192 * 192, 48, 192, 1)]
        for s in 0..<4 {
            let px = sizes[s] * sizes[s], c = dims[s]
            if s > 0 { shapes.append((px, dims[s - 1] * 4, c, 1)) }
            shapes += [(px, c, 4 * c, depths[s]), (px, 4 * c, c, depths[s])]
        }
        return shapes
    }

    func run() throws {
        var gen = Generator(seed: 0)
        print("building CLIP ViT-L/14-336 and ConvNeXt-L with random weights…")
        let clipArch = CLIPVisionArchitecture(hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24,
                                              numAttentionHeads: 16, imageSize: 336, patchSize: 14)
        let clip = CLIPVisionModel(clipArch)
        Self.randomize(clip, &gen)
        let trunk = ConvNeXtTrunk(.large)
        Self.randomize(trunk, &gen)
        let fusion = ConvGateFusion(lowResDim: 1024, highResDim: 1536, generator: &gen)
        Self.randomize(fusion, &gen)
        let pixels = Tensor.randn([1, 3, 336, 336], generator: &gen)
        let pixelsAux = Tensor.randn([1, 3, 768, 768], generator: &gen)

        // CLIP: 24 layers of 577 tokens; FLOPs of the linears and of attention.
        let tokens = 577.0, d = 1024.0
        let clipLinear: Double = 2 * tokens * d * d * 4 + 2 * tokens * d * 4096 * 2
        let clipAttention: Double = 2 * 2 * tokens * tokens * d
        let clipFlops = 24 * (clipLinear + clipAttention)
        // The bound: raw sgemm on exactly the model's own GEMM shapes (q, k, v, o; fc1; fc2; per head QKᵀ and PV),
        // timed in alternation with the forward so that both see the same machine.
        let clipRaw = RawGemmSeries([(577, 1024, 1024, 4 * 24), (577, 1024, 4096, 24), (577, 4096, 1024, 24),
                                     (577, 64, 577, 16 * 24), (577, 577, 64, 16 * 24)])
        BenchTiming.resetPeakRSS()
        let clipTimes = BenchTiming.interleaved(repeats: repeats, [{ _ = withNoGrad { clip(pixels) } }, { clipRaw.run() }])
        let clipTime = clipTimes[0], clipGemm = clipTimes[1]
        let clipRate = clipFlops / clipGemm / 1e9
        let clipRSS = BenchTiming.peakRSS()

        // ConvNeXt-L at 768: FLOPs of every conv and linear (depthwise included).
        var convFlops = 2.0 * 192 * 48 * 192 * 192  // stem: 192 channels × 4·4·3 taps per output pixel
        let dims = [192, 384, 768, 1536], depths = [3, 3, 27, 3], sizes = [192, 96, 48, 24]
        for s in 0..<4 {
            let px = Double(sizes[s] * sizes[s]), c = Double(dims[s])
            if s > 0 { convFlops += 2 * px * c * Double(dims[s - 1]) * 4 }
            let block: Double = 2 * px * c * 49 + 2 * 2 * px * c * 4 * c
            convFlops += Double(depths[s]) * block
        }
        // The bound: raw sgemm on the trunk's GEMM shapes (stem and downsample convs as im2col GEMMs, block MLPs);
        // the depthwise 7×7 convs are not GEMMs and count as overhead.
        let convRaw = RawGemmSeries(Self.convNeXtLargeShapes())
        var stages: [Tensor] = []
        BenchTiming.resetPeakRSS()
        let convTimes = BenchTiming.interleaved(repeats: repeats, [{ stages = withNoGrad { trunk(pixelsAux) } }, { convRaw.run() }])
        let convTime = convTimes[0], convGemm = convTimes[1]
        let convRate = convFlops / convGemm / 1e9
        let convRSS = BenchTiming.peakRSS()

        // Fusion on the real grids.
        let low = Tensor.randn([1, 576, 1024], generator: &gen)
        BenchTiming.resetPeakRSS()
        let fusionTime = BenchTiming.interleaved(repeats: repeats) { _ = withNoGrad { fusion(low: low, high: stages[3]) } }
        let fusionMACs: Int = 1536 * 1536 + 1536 * 1024 + 1024 * 1024 + 1024 * 49  // per token
        let fusionFlops = 2 * 576 * Double(fusionMACs)
        let fusionRSS = BenchTiming.peakRSS()

        // Box features: random boxes in the 768 frame.
        let roi = Self.randomBoxes(boxes, &gen)
        let rssBeforeBoxes = CheckpointOpenBenchCommand.currentRSS()
        BenchTiming.resetPeakRSS()
        let extractor = BoxFeatureExtractor()
        let boxTime = BenchTiming.interleaved(repeats: repeats) { _ = extractor(stages: stages, boxes: roi, auxSize: 768) }
        let boxRSS = BenchTiming.peakRSS()
        var boxGemmFlops = 0.0
        for (c, s) in zip(dims, sizes) { boxGemmFlops += 2 * Double(boxes * c * s * s) }

        print("part".padding(toLength: 34, withPad: " ", startingAt: 0) + "      time   GFLOP/s  bound GFLOP/s  ratio  peak RSS")
        func row(_ name: String, _ t: Double, _ flops: Double, _ rate: Double?, _ rss: Int) {
            let ours = flops / t / 1e9
            let ratio = rate.map { String(format: "%5.2f", ours / $0) } ?? "    –"
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + " " + BenchTiming.format(seconds: t)
                  + String(format: "  %8.1f  ", ours) + (rate.map { String(format: "%13.1f", $0) } ?? "            –")
                  + "  " + ratio + String(format: "  %6.0f MiB", Double(rss) / 1_048_576))
        }
        row("CLIP ViT-L/14-336, batch 1", clipTime, clipFlops, clipRate, clipRSS)
        row("ConvNeXt-L at 768", convTime, convFlops, convRate, convRSS)
        row("Conv-Gate fusion (24×24)", fusionTime, fusionFlops, nil, fusionRSS)
        row("box features, \(boxes) boxes", boxTime, boxGemmFlops, nil, boxRSS)
        print(String(format: "box features resident growth: %.1f MiB (the 2880×192×192 map would be %.0f MiB)",
                     Double(max(0, boxRSS - rssBeforeBoxes)) / 1_048_576, 2880.0 * 192 * 192 * 4 / 1_048_576))
        if json {
            let sgemm = "sgemm on the same shapes"
            BenchRows.emit([
                BenchRow(name: "CLIP ViT-L/14-336, batch 1, forward", seconds: clipTime, boundSeconds: clipGemm,
                         bound: sgemm, peakRSS: clipRSS, detail: String(format: "%.1f GFLOP/s", clipFlops / clipTime / 1e9)),
                BenchRow(name: "ConvNeXt-L at 768, forward", seconds: convTime, boundSeconds: convGemm, bound: sgemm,
                         peakRSS: convRSS, detail: String(format: "%.1f GFLOP/s", convFlops / convTime / 1e9)),
                BenchRow(name: "Conv-Gate fusion (24×24)", seconds: fusionTime, peakRSS: fusionRSS),
                BenchRow(name: "box features, \(boxes) boxes", seconds: boxTime, peakRSS: boxRSS,
                         detail: String(format: "resident growth %.1f MiB", Double(max(0, boxRSS - rssBeforeBoxes)) / 1_048_576)),
            ])
        }
        print("bound = the model's FLOPs at the time raw sgemm takes for exactly its GEMM shapes, measured in this run "
              + String(format: "(CLIP %.2f s, ConvNeXt %.2f s); ratio = bound time ÷ our time", clipGemm, convGemm))
    }
}
