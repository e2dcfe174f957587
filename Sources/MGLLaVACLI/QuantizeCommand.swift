import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava quantize`: an HF LLM folder (and the LLM an MG-LLaVA stage-2 checkpoint carries) to a llama.cpp GGUF
/// file, quantized as llama-quantize does. The result loads as `--llm FILE.gguf` in chat and eval, and in llama.cpp.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write an LLM as a quantized GGUF file (llama.cpp's format: q8_0, q4_k_m, q4_k, f16).")

    @Option(help: "HF LLM folder (config.json, weights, tokenizer.model).")
    var llm: String

    @Option(help: "MG-LLaVA checkpoint whose llm.* tensors (stage 2) replace the folder's.")
    var pth: String?

    @Option(help: "q8_0, q4_k_m (llama.cpp's Q4_K_M mixture), q4_k (every matrix Q4_K) or f16.")
    var type: String

    @Option(help: "The GGUF file to write (written atomically).")
    var out: String

    func validate() throws {
        guard GGUFQuantizationType(rawValue: type.lowercased()) != nil else {
            throw ValidationError(
                "--type \(type): expected one of \(GGUFQuantizationType.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
    }

    func run() throws {
        guard let kind = GGUFQuantizationType(rawValue: type.lowercased()) else {
            throw ValidationError("--type \(type): expected one of q8_0, q4_k_m, q4_k, f16")
        }
        let start = Date()
        let export = try GGUFExport.write(
            llm: URL(fileURLWithPath: llm), pth: pth.map { URL(fileURLWithPath: $0) }, type: kind,
            to: URL(fileURLWithPath: out)
        ) { tensor, i, n in
            let note = tensor.fallback ? " (rows not whole blocks of the preferred type: fell back)" : ""
            print("[\(i + 1)/\(n)] \(tensor.name) → \(tensor.type.name)\(note)")
            fflush(stdout)
        }
        if export.fromCheckpoint > 0, let pth { print("\(export.fromCheckpoint) LLM tensors taken from \(pth)") }
        let fallbacks = export.tensors.filter(\.fallback).count
        if fallbacks > 0 { print("\(fallbacks) of \(export.tensors.count) tensors needed a fallback type") }
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print(
            String(
                format: "wrote %@: %.2f GB, %d tensors in %.1f s", out, Double(size) / 1e9, export.tensors.count,
                Date().timeIntervalSince(start)))
    }
}
