import Foundation
import ArgumentParser
import MGBench

extension StackStepBench.LLMShape: ExpressibleByArgument {}
extension StackStepBench.Stage: ExpressibleByArgument {}

/// `mgllava bench stack-step`: `StackStepBench` — one full MG-LLaVA training step at real shapes with random
/// weights, against raw sgemm on the step's GEMM shapes.
struct StackStepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack-step",
        abstract: "One full MG-LLaVA training step (towers, fusion, boxes, projectors, LLM, AdamW) at real shapes.")

    typealias LLMShape = StackStepBench.LLMShape
    typealias Stage = StackStepBench.Stage

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

    @Option(
        help: ArgumentHelp(
            "SFT with LoRA adapters of rank R (α 2R) on every linear of the frozen LLM but lm_head (bf16 random base, or --llm-file's).",
            valueName: "R"))
    var lora: Int?

    @Option(help: "The LLM's weights from this HF folder or GGUF file (e.g. a Q4_K_M GGUF: the QLoRA analogue).")
    var llmFile: String?

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, warmup >= 0, textTokens >= 2, boxes >= 1 else {
            throw ValidationError("--repeats ≥ 1, --warmup ≥ 0, --text-tokens ≥ 2 and --boxes ≥ 1")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1, got \(layers)") }
        if bf16LLM && stage == .sft && lora == nil {
            throw ValidationError(
                "--bf16-llm needs --stage pretrain or --lora: a trained LLM keeps float32 weights")
        }
        if let lora {
            guard lora >= 1 else { throw ValidationError("--lora must be at least 1, got \(lora)") }
            guard stage == .sft else { throw ValidationError("--lora trains adapters: it needs --stage sft") }
        }
        if llmFile != nil && stage == .sft && lora == nil {
            throw ValidationError("--llm-file is a frozen base: it needs --stage pretrain or --lora")
        }
    }

    func run() throws {
        var bench = StackStepBench()
        bench.llm = llm
        bench.layers = layers
        bench.stage = stage
        bench.textTokens = textTokens
        bench.boxes = boxes
        bench.bf16LLM = bf16LLM
        bench.checkpointing = checkpointing
        bench.bound = bound
        bench.warmup = warmup
        bench.repeats = repeats
        bench.loraRank = lora
        bench.llmFile = llmFile.map { URL(fileURLWithPath: $0) }
        let row: BenchRow
        do {
            row = try bench.run { print($0) }
        } catch let error as StackStepBench.NonFiniteLoss {
            throw ValidationError(error.description)
        } catch let error as StackStepBenchError {
            throw ValidationError(error.description)
        }
        print(BenchRows.table([row]))
        if json { BenchRows.emit([row]) }
    }
}
