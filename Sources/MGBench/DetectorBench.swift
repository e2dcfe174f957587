import Foundation
import MGLLaVA

/// `mgllava bench detector`: OWLv2 at its native sizes with random weights — the detection of one image (towers,
/// heads, post-processing) against raw sgemm on exactly its own GEMM shapes, the same image against a cached
/// 4,585-query vocabulary (RAM's tag count) against the few-query time, and the preprocessing of a 4000×3000 photo.
public struct DetectorBench {
    /// The published models: OWLv2-B/16 at 960 and OWLv2-L/14 at 1008 (upstream's).
    public enum Model: String, CaseIterable, Sendable {
        case base = "b16", large = "l14"

        /// Its architecture.
        public var configuration: OWLv2Configuration { self == .base ? .base16 : .large14 }
        /// The row name.
        public var title: String { self == .base ? "OWLv2-B/16 at 960" : "OWLv2-L/14 at 1008" }
    }

    public var models: [Model]
    /// Timed runs per part (the fastest is kept).
    public var repeats: Int
    /// Queries of the ordinary detection (tags of one image: upstream's RAM++ gives a dozen or two).
    public var queries: Int
    /// Queries of the vocabulary row.
    public var vocabulary: Int

    public init(models: [Model], repeats: Int, queries: Int = 20, vocabulary: Int = 4585) {
        self.models = models
        self.repeats = repeats
        self.queries = queries
        self.vocabulary = vocabulary
    }

    /// The forward's GEMMs (m, k, n, count): patch embedding, the ViT layers, the box head (dense0, dense1, dense2),
    /// the class head (dense0, logit shift and scale) and the query similarity; objectness is not run.
    public static func gemmShapes(_ c: OWLv2Configuration, queries: Int) -> GemmShapes {
        let arch = c.vision.architecture, p = arch.numPatches, d = arch.hiddenSize
        return VisionGemmShapes.clipPatchEmbedding(arch)
            + VisionGemmShapes.clipLayers(arch, layers: arch.numHiddenLayers)
            + [(p, d, d, 2), (p, d, 4, 1), (p, d, c.text.hiddenSize, 1), (p, d, 1, 2), (p, c.projectionDim, queries, 1)]
    }

    /// Builds each model, times it and returns the rows; `log` receives progress lines.
    public func run(log: (String) -> Void) -> [BenchRow] {
        var rows: [BenchRow] = []
        var gen = Generator(seed: 0)
        for which in models {
            let c = which.configuration
            log("building \(which.title) with random weights…")
            ResidentMemory.resetPeak()
            let model = OWLv2Model(c)
            RandomWeights.randomize(model, &gen)
            model.freeze()
            model.eval()
            let side = c.vision.imageSize
            let pixels = Tensor.randn([1, 3, side, side], generator: &gen)
            func unitRows(_ n: Int) -> Tensor {
                normalizedRows(Tensor.randn([n, c.projectionDim], generator: &gen))
            }
            let few = unitRows(queries), many = unitRows(vocabulary)
            func detect(_ q: Tensor) {
                _ = withNoGrad {
                    model.heads(model.imageFeatures(pixels), queries: q, objectness: false)
                        .detections(threshold: 0.2, side: 4000)
                }
            }
            // Peak RSS of detection itself (model, image, activations), before the raw-sgemm buffers exist.
            detect(few)
            let rss = ResidentMemory.peak()
            let raw = RawGemmSeries(DetectorBench.gemmShapes(c, queries: queries))
            log("timing \(which.title): detection, raw sgemm on its shapes, \(vocabulary) cached queries…")
            let times = BenchTiming.interleaved(repeats: repeats, [{ detect(few) }, { raw.run() }, { detect(many) }])
            let flops = RawGemmSeries.flops(DetectorBench.gemmShapes(c, queries: queries))
            rows.append(
                BenchRow(
                    name: "\(which.title), detect (\(queries) queries)", seconds: times[0], boundSeconds: times[1],
                    bound: "sgemm on the same shapes", peakRSS: rss,
                    detail: String(format: "%.1f GFLOP/s", flops / times[0] / 1e9)))
            rows.append(
                BenchRow(
                    name: "\(which.title), \(vocabulary) cached queries", seconds: times[2], boundSeconds: times[0],
                    bound: "the same image, \(queries) queries", peakRSS: rss,
                    detail: String(format: "%+.1f %% per image", (times[2] / times[0] - 1) * 100)))
            ResidentMemory.resetPeak()
            // Preprocessing a 12-megapixel photo to the model's size (pad, anti-aliased resize, normalise).
            let photo = (0..<(4000 * 3000 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
            let processor = OWLv2ImageProcessor(
                configuration: OWLv2ImageProcessorConfiguration(size: OWLv2ImageSize(height: side, width: side)))
            let pre = BenchTiming.interleaved(repeats: repeats) {
                _ = try? processor.preprocess(rgb: photo, width: 4000, height: 3000)
            }
            rows.append(
                BenchRow(
                    name: "\(which.title), preprocess a 4000×3000 photo", seconds: pre, peakRSS: ResidentMemory.peak()))
        }
        return rows
    }
}

/// x / ‖x‖ per row.
private func normalizedRows(_ x: Tensor) -> Tensor {
    let d = x.shape[1]
    var values = x.toArray()
    for start in stride(from: 0, to: values.count, by: d) {
        let norm = values[start..<(start + d)].reduce(0) { $0 + $1 * $1 }.squareRoot()
        for i in start..<(start + d) { values[i] /= norm }
    }
    return Tensor(values, shape: x.shape)
}
