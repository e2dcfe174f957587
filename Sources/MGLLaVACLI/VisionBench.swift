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

    /// Seconds of raw sgemm for C[m,n] = A[m,k]·B[n,k]ᵀ (best of `repeats`).
    static func sgemmTime(m: Int, k: Int, n: Int, repeats: Int) -> Double {
        2 * Double(m * n * k) / sgemmRate(m: m, k: k, n: n, repeats: repeats) / 1e9
    }

    /// Raw sgemm GFLOP/s on C[m,n] = A[m,k]·B[n,k]ᵀ.
    static func sgemmRate(m: Int, k: Int, n: Int, repeats: Int) -> Double {
        var gen = Generator(seed: 1)
        let a = Tensor.randn([m, k], generator: &gen), b = Tensor.randn([n, k], generator: &gen)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { c.deallocate() }
        let t = BenchTiming.interleaved(repeats: repeats) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a.storage.floats,
                        Int32(k), b.storage.floats, Int32(k), 0, c, Int32(n))
        }
        return 2 * Double(m * n * k) / t / 1e9
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
        let clipTime = BenchTiming.interleaved(repeats: repeats) { _ = withNoGrad { clip(pixels) } }
        // The bound: raw sgemm on exactly the model's own GEMM shapes (q, k, v, o; fc1; fc2; per head QKᵀ and PV).
        let clipGemm = 24 * (4 * Self.sgemmTime(m: 577, k: 1024, n: 1024, repeats: repeats)
            + Self.sgemmTime(m: 577, k: 1024, n: 4096, repeats: repeats) + Self.sgemmTime(m: 577, k: 4096, n: 1024, repeats: repeats)
            + 16 * (Self.sgemmTime(m: 577, k: 64, n: 577, repeats: repeats) + Self.sgemmTime(m: 577, k: 577, n: 64, repeats: repeats)))
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
        var stages: [Tensor] = []
        let convTime = BenchTiming.interleaved(repeats: repeats) { stages = withNoGrad { trunk(pixelsAux) } }
        // The bound: raw sgemm on the trunk's GEMM shapes (stem and downsample convs as im2col GEMMs, block MLPs);
        // the depthwise 7×7 convs are not GEMMs and count as overhead.
        var convGemm = Self.sgemmTime(m: 192 * 192, k: 48, n: 192, repeats: repeats)
        for s in 0..<4 {
            let px = sizes[s] * sizes[s], c = dims[s]
            if s > 0 { convGemm += Self.sgemmTime(m: px, k: dims[s - 1] * 4, n: c, repeats: repeats) }
            convGemm += Double(depths[s]) * (Self.sgemmTime(m: px, k: c, n: 4 * c, repeats: repeats)
                                             + Self.sgemmTime(m: px, k: 4 * c, n: c, repeats: repeats))
        }
        let convRate = convFlops / convGemm / 1e9
        let convRSS = BenchTiming.peakRSS()

        // Fusion on the real grids.
        let low = Tensor.randn([1, 576, 1024], generator: &gen)
        let fusionTime = BenchTiming.interleaved(repeats: repeats) { _ = withNoGrad { fusion(low: low, high: stages[3]) } }
        let fusionMACs: Int = 1536 * 1536 + 1536 * 1024 + 1024 * 1024 + 1024 * 49  // per token
        let fusionFlops = 2 * 576 * Double(fusionMACs)

        // Box features: random boxes in the 768 frame.
        var roi: [RoIBox] = []
        for _ in 0..<boxes {
            let x = gen.nextInt(below: 700), y = gen.nextInt(below: 700)
            let w = 8 + gen.nextInt(below: 760 - x), h = 8 + gen.nextInt(below: 760 - y)
            roi.append(RoIBox(Float(x), Float(y), Float(x + w), Float(y + h)))
        }
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
        row("Conv-Gate fusion (24×24)", fusionTime, fusionFlops, nil, convRSS)
        row("box features, \(boxes) boxes", boxTime, boxGemmFlops, nil, boxRSS)
        print(String(format: "box features resident growth: %.1f MiB (the 2880×192×192 map would be %.0f MiB)",
                     Double(max(0, boxRSS - rssBeforeBoxes)) / 1_048_576, 2880.0 * 192 * 192 * 4 / 1_048_576))
        print("bound = the model's FLOPs at the time raw sgemm takes for exactly its GEMM shapes, measured in this run "
              + String(format: "(CLIP %.2f s, ConvNeXt %.2f s); ratio = bound time ÷ our time", clipGemm, convGemm))
    }
}
