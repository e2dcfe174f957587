import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava bench stack-step`: one full MG-LLaVA training step at real shapes with random weights — CLIP
/// ViT-L/14-336 and ConvNeXt-L at 768 (frozen, no graph), Conv-Gate fusion, box features, both projectors, the LLM,
/// the loss, backward, gradient clipping and AdamW — on one sample of 576 image tokens + boxes + text.
///
/// Two rows of the suite use it: a Phi-3-mini-shaped SFT step (LLM trained; `--layers` of its 32 decoder layers,
/// since a full 3.8 B-parameter model with float32 gradients and AdamW moments needs ~61 GB), and a
/// Vicuna-7B-shaped pretrain step (all 32 layers frozen in bf16, activation checkpointing on), whose peak RSS is
/// the memory check of issue 8 (≤ 22 GiB).
struct StackStepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack-step",
        abstract: "One full MG-LLaVA training step (towers, fusion, boxes, projectors, LLM, AdamW) at real shapes.")

    enum LLMShape: String, ExpressibleByArgument, CaseIterable {
        case phi3 = "phi3-mini", vicuna7b = "vicuna-7b"

        /// The published configs' shapes (Phi-3-mini-4k-instruct, vicuna-7b-v1.5).
        func architecture(layers: Int?) -> LLMArchitecture {
            switch self {
            case .phi3:
                return LLMArchitecture(layout: .phi3, vocabSize: 32064, hiddenSize: 3072, intermediateSize: 8192,
                                       numLayers: layers ?? 32, numHeads: 32, numKeyValueHeads: 32, rmsNormEps: 1e-5,
                                       maxPositionEmbeddings: 4096, slidingWindow: 2047)
            case .vicuna7b:
                return LLMArchitecture(layout: .llama, vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008,
                                       numLayers: layers ?? 32, numHeads: 32, numKeyValueHeads: 32, rmsNormEps: 1e-5,
                                       maxPositionEmbeddings: 4096)
            }
        }
    }

    enum Stage: String, ExpressibleByArgument, CaseIterable { case pretrain, sft }

    @Option(help: "LLM shape: \(LLMShape.allCases.map(\.rawValue).joined(separator: ", ")).")
    var llm: LLMShape = .phi3

    @Option(help: "Decoder layers (default: all of the shape's).")
    var layers: Int?

    @Option(help: "pretrain (LLM frozen) or sft (LLM trained).")
    var stage: Stage = .sft

    @Option(help: "Text tokens after the image (the caption or conversation).")
    var textTokens: Int = 256

    @Option(help: "Boxes (one visual token each).")
    var boxes: Int = 100

    @Flag(help: "Keep the frozen LLM's weights in bf16 (pretrain only), as upstream loads it.")
    var bf16LLM = false

    @Flag(inversion: .prefixedNo, help: "Activation checkpointing of the decoder layers.")
    var checkpointing = true

    @Flag(inversion: .prefixedNo, help: "Also time raw sgemm on the step's GEMM shapes (doubles the run time).")
    var bound = true

    @Option(help: "Untimed steps first (the first step also allocates AdamW's moments).")
    var warmup: Int = 1

    @Option(help: "Timed steps (the fastest is kept).")
    var repeats: Int = 1

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, warmup >= 0, textTokens >= 2, boxes >= 1 else {
            throw ValidationError("--repeats ≥ 1, --warmup ≥ 0, --text-tokens ≥ 2 and --boxes ≥ 1")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1, got \(layers)") }
        if bf16LLM && stage == .sft { throw ValidationError("--bf16-llm needs --stage pretrain: a trained LLM keeps float32 weights") }
    }

    func run() throws {
        var gen = Generator(seed: 0)
        let arch = llm.architecture(layers: layers)
        print("building CLIP ViT-L/14-336, ConvNeXt-L and a \(llm.rawValue)-shaped LLM (\(arch.numLayers) layers, "
              + "\(bf16LLM ? "bf16" : "float32")) with random weights…")
        let clip = CLIPVisionModel(CLIPVisionArchitecture(hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24,
                                                          numAttentionHeads: 16, imageSize: 336, patchSize: 14))
        VisionBenchCommand.randomize(clip, &gen)
        let trunk = ConvNeXtTrunk(.large)
        VisionBenchCommand.randomize(trunk, &gen)
        let decoder = CausalLM(arch)
        if bf16LLM {
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            for (_, p) in decoder.namedParameters() {
                p.useInPlace(DecodeBenchCommand.randomBF16(shape: p.shape, state: &state))
            }
        } else {
            VisionBenchCommand.randomize(decoder, &gen)
        }
        decoder.gradientCheckpointing = checkpointing
        let model = MGLLaVAModel(visualEncoder: clip, visualEncoderAux: trunk, llm: decoder, initialization: .upstream(seed: 1))
        if stage == .pretrain { model.freeze(prefix: "llm") } else { model.unfreeze(prefix: "llm") }
        model.train()

        // One sample: BOS, the image slot, text; supervised on the text.
        let text = (0..<textTokens).map { _ in 3 + gen.nextInt(below: arch.vocabSize - 3) }
        let ids = [1, MGLLaVAModel.imageTokenIndex] + text
        let labels = [MGLLaVAModel.ignoreIndex, MGLLaVAModel.ignoreIndex] + text
        let roi = VisionBenchCommand.randomBoxes(boxes, &gen)
        let sample = MultimodalSample(inputIds: ids, labels: labels,
                                      pixelValues: Tensor.randn([3, 336, 336], generator: &gen),
                                      pixelValuesAux: Tensor.randn([3, 768, 768], generator: &gen), boxes: roi)
        let sequence = 1 + 576 + boxes + textTokens
        let trainable = model.namedParameters().filter { !$0.1.frozen }
        let optimizer = AdamW(trainable, lr: 2e-5, weightDecay: 0)
        let trainableCount = trainable.reduce(0) { $0 + $1.1.count }
        print("sequence \(sequence) tokens (576 image + \(boxes) box + \(textTokens + 1) text); "
              + String(format: "%.1f M trainable parameters; ", Double(trainableCount) / 1e6)
              + "activation checkpointing \(checkpointing ? "on" : "off")")

        var loss: Float = 0
        // Phases of the fastest step: forward (towers, fusion, boxes, projectors, LLM, loss), backward, clip + AdamW.
        var best = Double.infinity, phases = (0.0, 0.0, 0.0)
        BenchTiming.resetPeakRSS()
        for i in 0..<(warmup + repeats) {
            let t0 = BenchTiming.now()
            optimizer.zeroGrad()
            let out = model([sample])
            loss = out.loss.item()
            let t1 = BenchTiming.now()
            out.loss.backward()
            let t2 = BenchTiming.now()
            _ = clipGradNorm(trainable.map(\.1), maxNorm: 1)
            optimizer.step()
            let t3 = BenchTiming.now()
            print(String(format: "step %d%@: %.2f s (forward %.2f, backward %.2f, clip + AdamW %.2f)", i + 1,
                         i < warmup ? " (warm-up)" : "", t3 - t0, t1 - t0, t2 - t1, t3 - t2))
            if i >= warmup && t3 - t0 < best { best = t3 - t0; phases = (t1 - t0, t2 - t1, t3 - t2) }
        }
        let rss = BenchTiming.peakRSS()
        guard loss.isFinite else { throw ValidationError("the step's loss is \(loss)") }

        var boundTime: Double? = nil
        if bound {
            let raw = VisionBenchCommand.RawGemmSeries(gemmShapes(arch, tokens: sequence))
            boundTime = (0..<repeats).map { _ in
                let t0 = BenchTiming.now()
                raw.run()
                return BenchTiming.now() - t0
            }.min()
        }
        let name = "\(llm.rawValue) stack, \(stage.rawValue) step (\(arch.numLayers == 32 ? "32" : "\(arch.numLayers) of 32") layers\(bf16LLM ? ", bf16" : ""))"
        let row = BenchRow(name: name, seconds: best, boundSeconds: boundTime, bound: bound ? "sgemm on the same shapes" : nil,
                           peakRSS: rss, detail: String(format: "%.0f tokens/s, seq %d; forward %.2f s, backward %.2f s, clip + AdamW %.2f s",
                                                        Double(sequence) / best, sequence, phases.0, phases.1, phases.2))
        print(BenchRows.table([row]))
        if json { BenchRows.emit([row]) }
    }

    /// The GEMMs the step runs, (m, k, n, count) as C[m,n] = A[m,k]·B[n,k]ᵀ: the towers' forward (CLIP up to the
    /// selected layer), the projector, and the LLM's forward (twice per layer under checkpointing), input
    /// gradients, and weight gradients when it is trained.
    func gemmShapes(_ a: LLMArchitecture, tokens l: Int) -> [(Int, Int, Int, Int)] {
        var shapes: [(Int, Int, Int, Int)] = [(576, 588, 1024, 1)]  // CLIP patch embedding as a GEMM
        let clipLayers = 23  // hidden state −2 of 24 layers
        shapes += [(577, 1024, 1024, 4 * clipLayers), (577, 1024, 4096, clipLayers), (577, 4096, 1024, clipLayers),
                   (577, 64, 577, 16 * clipLayers), (577, 577, 64, 16 * clipLayers)]
        shapes += VisionBenchCommand.convNeXtLargeShapes()
        let d = a.hiddenSize, f = a.intermediateSize, hd = a.headDim, heads = a.numHeads
        let kv = a.numKeyValueHeads * hd
        let trained = stage == .sft
        // Projector (trained in both stages): forward, input gradient is not needed (the towers are frozen), weight
        // gradients.
        shapes += [(576, 1024, d, 1), (576, d, d, 1), (d, 576, 1024, 1), (d, 576, d, 1), (576, d, d, 1)]
        let linears: [(Int, Int, Int)] = a.layout == .phi3
            ? [(d, d + 2 * kv, 1), (d, d, 1), (d, 2 * f, 1), (f, d, 1)]
            : [(d, d, 2), (d, kv, 2), (d, f, 2), (f, d, 1)]
        let forwards = checkpointing ? 2 : 1
        for (i, o, c) in linears {
            shapes.append((l, i, o, c * forwards * a.numLayers))
            shapes.append((l, o, i, c * a.numLayers))                      // dX
            if trained { shapes.append((o, l, i, c * a.numLayers)) }       // dW
        }
        shapes += [(l, hd, l, heads * forwards * a.numLayers), (l, l, hd, heads * forwards * a.numLayers),
                   (l, hd, l, heads * a.numLayers), (l, l, hd, 3 * heads * a.numLayers)]
        shapes += [(l, d, a.vocabSize, 1), (l, a.vocabSize, d, 1)]
        if trained { shapes.append((a.vocabSize, l, d, 1)) }
        return shapes
    }
}
