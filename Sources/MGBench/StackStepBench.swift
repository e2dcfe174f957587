import Foundation
import MGLLaVA

/// `mgllava bench stack-step`: one full MG-LLaVA training step at real shapes with random weights — CLIP
/// ViT-L/14-336 and ConvNeXt-L at 768 (frozen, no graph), Conv-Gate fusion, box features, both projectors, the LLM,
/// the loss, backward, gradient clipping and AdamW — on one sample of 576 image tokens + boxes + text, against raw
/// sgemm on the step's GEMM shapes (`gemmShapes`).
///
/// With `loraRank` the SFT step trains LoRA adapters on every linear of a frozen LLM (issue 19's memory check:
/// a Vicuna-7B-shaped step with the bf16 base ≤ 20 GiB, with a Q4_K base from `llmFile` ≤ 12 GiB).
///
/// Two rows of the suite use it: a Phi-3-mini-shaped SFT step (LLM trained; `layers` of its 32 decoder layers,
/// since a full 3.8 B-parameter model with float32 gradients and AdamW moments needs ~61 GB), and a
/// Vicuna-7B-shaped pretrain step (all 32 layers frozen in bf16, activation checkpointing on), whose peak RSS is
/// the memory check of issue 8 (≤ 22 GiB).
public struct StackStepBench {
    /// The LLMs the step can be built with, named as on the command line.
    public enum LLMShape: String, CaseIterable, Sendable {
        case phi3 = "phi3-mini", vicuna7b = "vicuna-7b"

        /// The published config's shapes (`LLMArchitecture.phi3Mini`, `.vicuna7B`), with `layers` decoder layers
        /// (nil: all of them).
        public func architecture(layers: Int?) -> LLMArchitecture {
            var a: LLMArchitecture
            switch self {
            case .phi3: a = .phi3Mini
            case .vicuna7b: a = .vicuna7B
            }
            if let layers { a.numLayers = layers }
            return a
        }
    }

    /// Pretrain (LLM frozen) or SFT (LLM trained).
    public enum Stage: String, CaseIterable, Sendable { case pretrain, sft }

    public var llm: LLMShape = .phi3
    /// Decoder layers (nil: all of the shape's).
    public var layers: Int?
    public var stage: Stage = .sft
    /// Text tokens after the image (the caption or conversation).
    public var textTokens = 256
    /// Boxes (one visual token each).
    public var boxes = 100
    /// Keep the frozen LLM's weights in bf16 (pretrain only), as upstream loads it.
    public var bf16LLM = false
    /// Activation checkpointing of the decoder layers.
    public var checkpointing = true
    /// Also time raw sgemm on the step's GEMM shapes (doubles the run time).
    public var bound = true
    /// Untimed steps first (the first step also allocates AdamW's moments).
    public var warmup = 1
    /// Timed steps (the fastest is kept).
    public var repeats = 1
    /// SFT with LoRA adapters of this rank (α = 2r, no dropout) on every linear of the LLM but `lm_head`, the
    /// base frozen in its stored dtype (bf16 random weights, or `llmFile`'s); nil: no LoRA.
    public var loraRank: Int?
    /// The LLM's weights from this HF folder or GGUF file (in place, frozen) instead of random ones; its shape
    /// must be `llm`'s.
    public var llmFile: URL?

    public init() {}

    /// The step's loss was not finite: the measurement is void.
    public struct NonFiniteLoss: Error, CustomStringConvertible {
        public var loss: Float
        public var description: String { "the step's loss is \(loss)" }
    }

    /// Builds the stack, runs `warmup` + `repeats` steps (the fastest is kept) and, with `bound`, times raw sgemm
    /// on the step's GEMM shapes; `log` receives the progress lines (one per step).
    public func run(log: (String) -> Void) throws -> BenchRow {
        // The large-allocation pool as `Trainer.train` sets it.
        LargeAllocationPool.capacity = max(LargeAllocationPool.capacity, LargeAllocationPool.trainingCapacity)
        var gen = Generator(seed: 0)
        let arch = llm.architecture(layers: layers), fullLayers = llm.architecture(layers: nil).numLayers
        let clipArch = CLIPVisionArchitecture.vitL14_336, auxSize = BenchInputs.auxImageSize
        log(
            "building CLIP ViT-L/14-336, ConvNeXt-L and a \(llm.rawValue)-shaped LLM (\(arch.numLayers) layers, "
                + (llmFile.map { "from \($0.path)) with random towers…" }
                    ?? "\(bf16LLM || loraRank != nil ? "bf16" : "float32")) with random weights…"))
        let clip = CLIPVisionModel(clipArch)
        RandomWeights.randomize(clip, &gen)
        let trunk = ConvNeXtTrunk(.large)
        RandomWeights.randomize(trunk, &gen)
        let decoder: CausalLM
        if let llmFile {
            decoder = try CausalLM.load(directory: llmFile, frozen: true)
            guard decoder.architecture.hiddenSize == arch.hiddenSize && decoder.architecture.numLayers == arch.numLayers
            else {
                throw StackStepBenchError.shapeMismatch(
                    "\(llmFile.path): \(decoder.architecture.numLayers) layers of width "
                        + "\(decoder.architecture.hiddenSize), expected \(arch.numLayers) of \(arch.hiddenSize)")
            }
        } else {
            decoder = CausalLM(arch)
            if bf16LLM || loraRank != nil {
                RandomWeights.useBF16(decoder)
            } else {
                RandomWeights.randomize(decoder, &gen)
            }
        }
        decoder.gradientCheckpointing = checkpointing
        let model = MGLLaVAModel(visualEncoder: clip, visualEncoderAux: trunk, llm: decoder)
        var initGenerator = Generator(seed: 1)
        model.initialize(generator: &initGenerator)
        if stage == .pretrain || loraRank != nil { model.freeze(prefix: "llm") } else { model.unfreeze(prefix: "llm") }
        if let loraRank {
            var loraGenerator = Generator(seed: 2)
            _ = try decoder.attachLoRA(
                LoRAConfig(r: loraRank, alpha: Float(2 * loraRank)), generator: &loraGenerator)
        }
        model.train()

        // One sample: BOS, the image slot, text; supervised on the text.
        let text = (0..<textTokens).map { _ in 3 + gen.nextInt(below: arch.vocabSize - 3) }
        let ids = [1, MGLLaVAModel.imageTokenIndex] + text
        let labels = [MGLLaVAModel.ignoreIndex, MGLLaVAModel.ignoreIndex] + text
        let roi = RandomInputs.boxes(boxes, &gen)
        let sample = MultimodalSample(
            inputIds: ids, labels: labels,
            pixelValues: Tensor.randn([clipArch.numChannels, clipArch.imageSize, clipArch.imageSize], generator: &gen),
            pixelValuesAux: Tensor.randn([3, auxSize, auxSize], generator: &gen), boxes: roi)
        let imageTokens = clipArch.numPatches
        let sequence = 1 + imageTokens + boxes + textTokens
        let trainable = model.namedParameters().filter { !$0.1.frozen }
        let optimizer = AdamW(trainable, lr: 2e-5, weightDecay: 0)
        let trainableCount = trainable.reduce(0) { $0 + $1.1.count }
        log(
            "sequence \(sequence) tokens (\(imageTokens) image + \(boxes) box + \(textTokens + 1) text); "
                + String(format: "%.1f M trainable parameters; ", Double(trainableCount) / 1e6)
                + "activation checkpointing \(checkpointing ? "on" : "off")")

        var loss: Float = 0
        // Phases of the fastest step: forward (towers, fusion, boxes, projectors, LLM, loss), backward, clip + AdamW.
        var best = Double.infinity, phases = (0.0, 0.0, 0.0)
        ResidentMemory.resetPeak()
        for i in 0..<(warmup + repeats) {
            let t0 = BenchTiming.now()
            optimizer.zeroGrad()
            let out = model([sample])
            loss = out.loss.item()
            let t1 = BenchTiming.now()
            out.loss.backward()
            let t2 = BenchTiming.now()
            _ = clipGradNorm(trainable.map(\.1), maxNorm: 1)
            let tClip = BenchTiming.now()
            optimizer.step()
            let t3 = BenchTiming.now()
            log(
                String(
                    format: "step %d%@: %.2f s (forward %.2f, backward %.2f, clip %.2f + AdamW %.2f)", i + 1,
                    i < warmup ? " (warm-up)" : "", t3 - t0, t1 - t0, t2 - t1, tClip - t2, t3 - tClip))
            if i >= warmup && t3 - t0 < best { best = t3 - t0; phases = (t1 - t0, t2 - t1, t3 - t2) }
        }
        let rss = ResidentMemory.peak()
        guard loss.isFinite else { throw NonFiniteLoss(loss: loss) }

        var boundTime: Double? = nil
        if bound {
            let raw = RawGemmSeries(gemmShapes(arch, tokens: sequence))
            boundTime = (0..<repeats).map { _ in
                let t0 = BenchTiming.now()
                raw.run()
                return BenchTiming.now() - t0
            }.min()
        }
        let layerText = arch.numLayers == fullLayers ? "\(fullLayers)" : "\(arch.numLayers) of \(fullLayers)"
        let base = llmFile.map { ", \($0.lastPathComponent)" } ?? (bf16LLM || loraRank != nil ? ", bf16" : "")
        let lora = loraRank.map { ", LoRA r \($0)" } ?? ""
        let name = "\(llm.rawValue) stack, \(stage.rawValue) step (\(layerText) layers\(base)\(lora))"
        return BenchRow(
            name: name, seconds: best, boundSeconds: boundTime, bound: bound ? "sgemm on the same shapes" : nil,
            peakRSS: rss,
            detail: String(
                format: "%.0f tokens/s, seq %d; forward %.2f s, backward %.2f s, clip + AdamW %.2f s",
                Double(sequence) / best, sequence, phases.0, phases.1, phases.2))
    }
}

/// A `StackStepBench` setting that cannot be run.
public enum StackStepBenchError: Error, CustomStringConvertible {
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let text): "--llm-file does not have the --llm shape: \(text)"
        }
    }
}
