import ArgumentParser
import Foundation
import MGConfigs
import MGLLaVA
import MGTrain

/// `mgllava bench train-step`: training-side rows of the performance suite (issue 8) — a Vicuna-7B-shaped decoder
/// layer at sequence 1024, forward and forward + backward, each against raw sgemm on exactly its GEMM shapes timed
/// in alternation; and one full optimizer step of the embedded default's tiny stack (time, tokens/s).
struct TrainStepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "A 7B-shaped decoder layer (seq 1024) forward and forward+backward vs sgemm, and a tiny-stack training step.")

    @Option(help: "Timed runs per row (the fastest is kept).")
    var repeats: Int = 2

    @Option(help: "Sequence length of the decoder-layer rows.")
    var sequence: Int = 1024

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, sequence >= 16 else { throw ValidationError("--repeats ≥ 1 and --sequence ≥ 16") }
    }

    func run() throws {
        var gen = Generator(seed: 0)
        let (l, d, f, heads, vocab) = (sequence, 4096, 11008, 32, 1000)
        let hd = d / heads
        print("building one Vicuna-7B-shaped decoder layer (hidden \(d), MLP \(f), \(heads) heads, vocab \(vocab)) with random weights…")
        let arch = LLMArchitecture(layout: .llama, vocabSize: vocab, hiddenSize: d, intermediateSize: f, numLayers: 1,
                                   numHeads: heads, numKeyValueHeads: heads, rmsNormEps: 1e-5, maxPositionEmbeddings: 4096)
        let layer = CausalLM(arch)
        VisionBenchCommand.randomize(layer, &gen)
        let x = Tensor.randn([1, l, d], std: 0.1, generator: &gen)
        let targets = (0..<l).map { _ in gen.nextInt(below: vocab) }

        // GEMM shapes (m, k, n, count) of the forward: q, k, v, o; gate, up; down; lm_head; per head QKᵀ and PV.
        let forward = [(l, d, d, 4), (l, d, f, 2), (l, f, d, 1), (l, d, vocab, 1), (l, hd, l, heads), (l, l, hd, heads)]
        // Backward adds, per linear (in → out), dX (m = L, k = out, n = in) and dW (m = out, k = L, n = in); per
        // head dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q.
        let backward = [(l, d, d, 4), (d, l, d, 4), (l, f, d, 2), (f, l, d, 2), (l, d, f, 1), (d, l, f, 1),
                        (l, vocab, d, 1), (vocab, l, d, 1), (l, hd, l, heads), (l, l, hd, 3 * heads)]
        let fwdRaw = VisionBenchCommand.RawGemmSeries(forward)
        let allRaw = VisionBenchCommand.RawGemmSeries(forward + backward)
        func flops(_ shapes: [(Int, Int, Int, Int)]) -> Double {
            shapes.reduce(0) { $0 + 2 * Double($1.0) * Double($1.1) * Double($1.2) * Double($1.3) }
        }

        layer.freeze()
        BenchTiming.resetPeakRSS()
        let fwd = BenchTiming.interleaved(repeats: repeats, [{ _ = withNoGrad { layer(inputsEmbeds: x) } }, { fwdRaw.run() }])
        let fwdRSS = BenchTiming.peakRSS()
        layer.unfreeze()
        BenchTiming.resetPeakRSS()
        let step = {
            layer.zeroGrad()
            let loss = layer(inputsEmbeds: x).logits?.reshaped([l, vocab]).crossEntropy(targets: targets)
            loss?.backward()
        }
        let both = BenchTiming.interleaved(repeats: repeats, [step, { allRaw.run() }])
        let bothRSS = BenchTiming.peakRSS()

        // The tiny stack: the embedded default's models and a small synthetic dataset in a temp folder.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try EmbeddedDefault.ensure(root: root, dataset: SyntheticDatasetSpec(pretrainSamples: 64, sftSamples: 64,
                                                                              mmbenchQuestions: 1, seed: 1),
                                   dataFolder: "data", modelsFolder: "models")
        let config = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models")
            .with { $0.pretrainedPth = nil; $0.stage = .pretrain; $0.freezeLLM = false; $0.maxEpochs = 100 }
        let run = try TrainingRun.prepare(config: config, workDir: root.appendingPathComponent("w"), root: root)
        var tokens = 0
        BenchTiming.resetPeakRSS()
        let tinyStep = BenchTiming.interleaved(repeats: max(repeats, 10)) { tokens = (try? run.trainer.step())?.tokens ?? 0 }

        print("row".padding(toLength: 44, withPad: " ", startingAt: 0) + "      time   GFLOP/s  sgemm GFLOP/s  ratio  peak RSS")
        func row(_ name: String, _ t: Double, _ raw: Double, _ work: Double, _ rss: Int) {
            print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + " " + BenchTiming.format(seconds: t)
                  + String(format: "  %8.1f  %13.1f  %5.2f  %6.0f MiB", work / t / 1e9, work / raw / 1e9, raw / t,
                           Double(rss) / 1_048_576))
        }
        row("7B decoder layer, seq \(l), forward", fwd[0], fwd[1], flops(forward), fwdRSS)
        row("7B decoder layer, seq \(l), forward+backward", both[0], both[1], flops(forward + backward), bothRSS)
        print("tiny stack (embedded default), one SFT step".padding(toLength: 44, withPad: " ", startingAt: 0) + " "
              + BenchTiming.format(seconds: tinyStep)
              + String(format: "  %.0f tokens/s (batch %d, %d tokens)", Double(tokens) / tinyStep, config.batchSize, tokens))
        print("ratio = raw sgemm time on the same GEMM shapes ÷ our time, measured interleaved in this run")
        if json {
            let sgemm = "sgemm on the same shapes"
            BenchRows.emit([
                BenchRow(name: "7B decoder layer, seq \(l), forward", seconds: fwd[0], boundSeconds: fwd[1], bound: sgemm,
                         peakRSS: fwdRSS, detail: String(format: "%.1f GFLOP/s", flops(forward) / fwd[0] / 1e9)),
                BenchRow(name: "7B decoder layer, seq \(l), forward + backward", seconds: both[0], boundSeconds: both[1],
                         bound: sgemm, peakRSS: bothRSS,
                         detail: String(format: "%.1f GFLOP/s", flops(forward + backward) / both[0] / 1e9)),
                BenchRow(name: "tiny stack, one SFT step (batch \(config.batchSize))", seconds: tinyStep,
                         peakRSS: BenchTiming.peakRSS(),
                         detail: String(format: "%.0f tokens/s, %d tokens", Double(tokens) / tinyStep, tokens)),
            ])
        }
    }
}
