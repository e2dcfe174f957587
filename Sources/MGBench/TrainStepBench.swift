import Foundation
import MGLLaVA

/// `mgllava bench train-step`: training-side rows of the performance suite (issue 8) — a Vicuna-7B-shaped decoder
/// layer at sequence 1024, forward and forward + backward, each against raw sgemm on exactly its GEMM shapes timed
/// in alternation; and one full optimizer step of the embedded default's tiny stack (time, tokens/s; no bound).
public struct TrainStepBench {
    /// Timed runs per row (the fastest is kept).
    public var repeats: Int
    /// Sequence length of the decoder-layer rows.
    public var sequence: Int

    public init(repeats: Int, sequence: Int) {
        self.repeats = repeats
        self.sequence = sequence
    }

    /// The measured layer: one Vicuna-7B decoder layer with a 1000-token vocabulary (so the head stays small).
    public static var layerArchitecture: LLMArchitecture {
        var a = LLMArchitecture.vicuna7B
        a.vocabSize = 1000
        a.numLayers = 1
        return a
    }

    /// GEMM shapes (m, k, n, count) of one llama-layout decoder layer plus its LM head at sequence `l`. Forward:
    /// q, k, v, o; gate, up; down; lm_head; per head QKᵀ and PV. Backward adds, per linear (in → out), dX (m = L,
    /// k = out, n = in) and dW (m = out, k = L, n = in); per head dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q.
    public static func layerShapes(_ a: LLMArchitecture, sequence l: Int) -> (forward: GemmShapes, backward: GemmShapes)
    {
        let d = a.hiddenSize, f = a.intermediateSize, heads = a.numHeads, hd = a.headDim, vocab = a.vocabSize
        let forward = [(l, d, d, 4), (l, d, f, 2), (l, f, d, 1), (l, d, vocab, 1), (l, hd, l, heads), (l, l, hd, heads)]
        let backward = [
            (l, d, d, 4), (d, l, d, 4), (l, f, d, 2), (f, l, d, 2), (l, d, f, 1), (d, l, f, 1),
            (l, vocab, d, 1), (vocab, l, d, 1), (l, hd, l, heads), (l, l, hd, 3 * heads)
        ]
        return (forward, backward)
    }

    /// Builds the layer, times its rows and the tiny stack's step; `log` receives the progress line.
    public func run(log: (String) -> Void) throws -> TrainStepBenchResult {
        // The large-allocation pool as `Trainer.train` sets it.
        LargeAllocationPool.capacity = max(LargeAllocationPool.capacity, LargeAllocationPool.trainingCapacity)
        var gen = Generator(seed: 0)
        let arch = Self.layerArchitecture
        let (l, d, f, heads, vocab) = (sequence, arch.hiddenSize, arch.intermediateSize, arch.numHeads, arch.vocabSize)
        log(
            "building one Vicuna-7B-shaped decoder layer (hidden \(d), MLP \(f), \(heads) heads, vocab \(vocab)) with random weights…"
        )
        let layer = CausalLM(arch)
        RandomWeights.randomize(layer, &gen)
        let x = Tensor.randn([1, l, d], std: 0.1, generator: &gen)
        let targets = (0..<l).map { _ in gen.nextInt(below: vocab) }

        let (forward, backward) = Self.layerShapes(arch, sequence: l)
        let fwdRaw = RawGemmSeries(forward)
        let allRaw = RawGemmSeries(forward + backward)

        layer.freeze()
        ResidentMemory.resetPeak()
        let fwd = BenchTiming.interleaved(
            repeats: repeats, [{ _ = withNoGrad { layer(inputsEmbeds: x) } }, { fwdRaw.run() }])
        let fwdRSS = ResidentMemory.peak()
        layer.unfreeze()
        ResidentMemory.resetPeak()
        let step = {
            layer.zeroGrad()
            let loss = layer(inputsEmbeds: x).logits?.reshaped([l, vocab]).crossEntropy(targets: targets)
            loss?.backward()
        }
        let both = BenchTiming.interleaved(repeats: repeats, [step, { allRaw.run() }])
        let bothRSS = ResidentMemory.peak()

        let tiny = try TinyStackStep.measure(repeats: max(repeats, 10))
        return TrainStepBenchResult(
            sequence: l, forwardSeconds: fwd[0], forwardBoundSeconds: fwd[1],
            forwardFlops: RawGemmSeries.flops(forward),
            forwardRSS: fwdRSS, stepSeconds: both[0], stepBoundSeconds: both[1],
            stepFlops: RawGemmSeries.flops(forward + backward), stepRSS: bothRSS, tiny: tiny)
    }
}
