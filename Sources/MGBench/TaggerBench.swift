import Foundation
import MGLLaVA

/// `mgllava bench tagger`: RAM++ as released (Swin-L at 384, 4,585 tags × 51 descriptions) with random weights — one
/// image's tags against raw sgemm on exactly its own GEMM shapes, then upstream's whole box step per image (RAM++,
/// then OWLv2-L/14 at 1008 on `queries` tags) against OWLv2 alone.
public struct TaggerBench {
    /// Timed runs per part (the fastest is kept).
    public var repeats: Int
    /// Tags OWLv2 looks for in the pipeline row (RAM++ gives a dozen or two per photo).
    public var queries: Int
    /// Also time the whole RAM++ → OWLv2-L pipeline (builds OWLv2-L too: ~1.7 GB more).
    public var pipeline: Bool

    public init(repeats: Int, queries: Int = 20, pipeline: Bool = true) {
        self.repeats = repeats
        self.queries = queries
        self.pipeline = pipeline
    }

    /// The forward's GEMMs (m, k, n, count): patch embedding; per Swin block the qkv, window attention (scores and
    /// weighted sum per window and head), projection and MLP; the patch mergings; `image_proj`; the description
    /// scores (one row against every description) and their weighted sums (per tag); `wordvec_proj`; per tagging
    /// layer the query, key, value, cross-attention, output and feed-forward products; `fc`.
    public static func gemmShapes(_ c: RAMPlusConfiguration) -> GemmShapes {
        let v = c.vision, head = c.taggingHead
        var shapes: GemmShapes = [
            (v.resolution(stage: 0) * v.resolution(stage: 0), 3 * v.patchSize * v.patchSize, v.embedDim, 1)
        ]
        for i in v.depths.indices {
            let side = v.resolution(stage: i), t = side * side, dim = v.dim(stage: i), w = v.window(stage: i)
            let n = w * w, windows = t / n, heads = v.numHeads[i], hd = dim / heads, blocks = v.depths[i]
            shapes += [
                (t, dim, 3 * dim, blocks), (n, hd, n, windows * heads * blocks), (n, n, hd, windows * heads * blocks),
                (t, dim, dim, blocks), (t, dim, v.mlpRatio * dim, blocks), (t, v.mlpRatio * dim, dim, blocks)
            ]
            if i + 1 < v.depths.count { shapes.append((t / 4, 4 * dim, 2 * dim, 1)) }
        }
        let last = v.resolution(stage: v.depths.count - 1), tokens = 1 + last * last
        let tags = c.numClasses, d = c.descriptionsPerClass, width = head.encoderWidth, hidden = head.hiddenSize
        let hd = hidden / head.numAttentionHeads
        shapes += [(tokens, v.outputDim, width, 1), (1, width, tags * d, 1), (1, d, width, tags)]
        if hidden != width { shapes.append((tags, width, hidden, 1)) }
        let layers = head.numHiddenLayers
        shapes += [
            (tags, hidden, hidden, 2 * layers), (tokens, width, hidden, 2 * layers),
            (tags, hd, tokens, head.numAttentionHeads * layers), (tags, tokens, hd, head.numAttentionHeads * layers),
            (tags, hidden, head.intermediateSize, layers), (tags, head.intermediateSize, hidden, layers),
            (tags, hidden, 1, 1)
        ]
        return shapes
    }

    /// Builds the models, times them and returns the rows; `log` receives progress lines.
    public func run(log: (String) -> Void) -> [BenchRow] {
        var rows: [BenchRow] = []
        var gen = Generator(seed: 0)
        let c = RAMPlusConfiguration.swinLarge384
        log("building RAM++ (Swin-L at 384, \(c.numClasses) tags) with random weights…")
        ResidentMemory.resetPeak()
        let model = RAMPlusModel(c)
        RandomWeights.randomize(model, &gen)
        model.freeze()
        model.eval()
        let side = c.vision.imageSize
        let pixels = Tensor.randn([1, 3, side, side], generator: &gen)
        func tag() { _ = withNoGrad { model.forward(pixels).logits.toArray() } }
        tag()  // peak RSS of tagging itself, before the raw-sgemm buffers exist
        let rss = ResidentMemory.peak()
        let shapes = TaggerBench.gemmShapes(c)
        let raw = RawGemmSeries(shapes)
        log("timing RAM++: tagging one image, raw sgemm on its shapes…")
        let times = BenchTiming.interleaved(repeats: repeats, [{ tag() }, { raw.run() }])
        rows.append(
            BenchRow(
                name: "RAM++ Swin-L at 384, tag one image", seconds: times[0], boundSeconds: times[1],
                bound: "sgemm on the same shapes", peakRSS: rss,
                detail: String(format: "%.1f GFLOP/s", RawGemmSeries.flops(shapes) / times[0] / 1e9)))
        guard pipeline else { return rows }

        log("building OWLv2-L/14 at 1008 with random weights…")
        let owl = OWLv2Model(.large14)
        RandomWeights.randomize(owl, &gen)
        owl.freeze()
        owl.eval()
        let owlPixels = Tensor.randn([1, 3, 1008, 1008], generator: &gen)
        let queryEmbeds = Tensor.randn([queries, OWLv2Configuration.large14.projectionDim], generator: &gen)
        func detect() {
            _ = withNoGrad {
                owl.heads(owl.imageFeatures(owlPixels), queries: queryEmbeds, objectness: false)
                    .detections(threshold: 0.2, side: 1008)
            }
        }
        ResidentMemory.resetPeak()
        detect()
        log("timing the box step: RAM++ then OWLv2-L (\(queries) tags) per image, against OWLv2 alone…")
        let step = BenchTiming.interleaved(
            repeats: repeats,
            [
                {
                    tag(); detect()
                }, { detect() }
            ])
        rows.append(
            BenchRow(
                name: "RAM++ → OWLv2-L/14, one image (\(queries) tags)", seconds: step[0], boundSeconds: step[1],
                bound: "OWLv2-L/14 alone", peakRSS: ResidentMemory.peak(),
                detail: String(format: "RAM++ %.0f %% of the step", (1 - step[1] / step[0]) * 100)))
        return rows
    }
}
