import ArgumentParser
import Foundation
import MGBench
import MGLLaVA

/// `mgllava bench decode`: `DecodeBench` — prefill and decode speed of a full-size LLM in its stored bf16 weights
/// against the memory-bandwidth bound measured in the same run. `--generate CONFIG` first writes a random-weight
/// bf16 model with that config's real shapes and key names (e.g.
/// Tests/Fixtures/real-configs/vicuna-7b-v1.5/config.json).
struct DecodeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Prefill and decode tokens/s of an LLM in bf16 vs the memory-bandwidth bound (release build).")

    @Argument(
        help:
            "LLM folder (HF layout); without it, a Vicuna-7B-shaped model with random bf16 weights is built in memory.")
    var directory: String?

    @Option(help: "Write a random bf16 model with this config.json's shapes into DIRECTORY first, then exit.")
    var generate: String?

    @Option(
        help:
            "Write random CLIP (this HF config) and ConvNeXt-L towers and the MG-LLaVA modules next to the LLM folder, for a full-size `mgllava chat` run."
    )
    var clipConfig: String?

    @Option(help: "Prompt tokens for the prefill measurement.")
    var promptTokens: Int = 512

    @Option(
        help: ArgumentHelp(
            "16-bit kernels to time, comma-separated: split (bf16 dot products, float32-like), bf16 (activations in the weights' 16-bit type, as PyTorch and llama.cpp), f32 (weights widened to float32); default: the library's default (bf16 where the CPU has AVX512-BF16, else f32).",
            valueName: "split,bf16,f32"))
    var kernels: String?

    @Option(help: "Tokens to decode.")
    var newTokens: Int = 16

    @Option(
        help: ArgumentHelp(
            "Time the LLM quantized as llama.cpp's GGUF: DIRECTORY/model-TYPE.gguf, written by `mgllava quantize` first when it is not there (DIRECTORY may also be a .gguf file itself).",
            valueName: "q8_0|q4_k_m|q4_k"))
    var quant: String?

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, newTokens >= 1 else {
            throw ValidationError("--prompt-tokens and --new-tokens must be ≥ 1")
        }
        if directory == nil && (generate != nil || clipConfig != nil) {
            throw ValidationError("--generate and --clip-config need the LLM folder to write")
        }
        if let quant {
            guard directory != nil else { throw ValidationError("--quant needs the LLM folder to quantize") }
            guard let type = GGUFQuantizationType(rawValue: quant.lowercased()), type != .f16 else {
                throw ValidationError("--quant \(quant): expected q8_0, q4_k_m or q4_k")
            }
        }
    }

    func run() throws {
        let chosen =
            try kernels?.split(separator: ",").map { try HalfPrecisionKernel(flag: String($0)) }
            ?? [HalfPrecision.kernel]
        let t0 = BenchTiming.now()
        let model: CausalLM
        let origin: DecodeBenchResult.Origin
        if let directory {
            var dir = URL(fileURLWithPath: directory)
            if try writeModels(dir) { return }
            if let quant, let type = GGUFQuantizationType(rawValue: quant.lowercased()) {
                dir = try DecodeBench.quantizedFile(folder: dir, type: type) { print($0) }
            }
            model = try CausalLM.load(directory: dir, frozen: true)
            origin = .memoryMapped
            print("paging the weights in (not timed)…")
            DecodeBench.pageIn(model)
        } else {
            print("building a Vicuna-7B-shaped model with random bf16 weights in memory…")
            model = DecodeBench.randomModel(.vicuna7B)
            origin = .inMemory
        }
        let loadTime = BenchTiming.now() - t0
        let read = ReadBandwidth.measure(), copy = CopyBandwidth.measure()
        // The 16-bit kernels do not touch a quantized model's products: one run.
        let quantized = model.namedParameters().contains { $0.1.value.dtype.isBlockQuantized }
        let result = DecodeBench(promptTokens: promptTokens, newTokens: newTokens)
            .measure(
                model, readBandwidth: read, copyBandwidth: copy, kernels: quantized ? [chosen[0]] : chosen)
        print(result.report(loadTime: loadTime, origin: origin))
        if json { BenchRows.emit(result.rows) }
    }

    /// `--generate` / `--clip-config`: writes the random models and returns true (nothing is measured then).
    func writeModels(_ dir: URL) throws -> Bool {
        if let generate {
            try RandomCheckpoints.writeLLM(config: URL(fileURLWithPath: generate), to: dir) { print($0) }
            print("wrote a random bf16 model to \(dir.path); now run: mgllava bench decode \(dir.path)")
            if let clipConfig {
                try RandomCheckpoints.writeTowers(clipConfig: URL(fileURLWithPath: clipConfig), llm: dir) { print($0) }
            }
            return true
        }
        if let clipConfig {
            try RandomCheckpoints.writeTowers(clipConfig: URL(fileURLWithPath: clipConfig), llm: dir) { print($0) }
            return true
        }
        return false
    }
}
