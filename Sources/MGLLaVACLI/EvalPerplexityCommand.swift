import ArgumentParser
import Foundation
import MGEval
import MGLLaVA

/// `mgllava eval perplexity`: llama-perplexity's numbers for an LLM (HF folder or GGUF) on a text file, and with
/// `--kl-base` its `--kl-divergence` statistics against a base model.
struct EvalPerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of an LLM on a text file (as llama-perplexity), and KL divergence against a base model.")

    @Option(help: "The LLM: an HF folder or a GGUF file.")
    var llm: String

    @Option(help: "A UTF-8 text file (e.g. wikitext-2's wiki.test.raw).")
    var data: String

    @Option(help: "A base LLM (HF folder or GGUF, same vocabulary) for KL divergence and top-1 agreement.")
    var klBase: String?

    @Option(help: "Tokens per chunk (llama-perplexity -c).")
    var context: Int = 512

    @Option(help: "At most this many chunks (llama-perplexity --chunks).")
    var chunks: Int?

    @Option(help: "Tokenizer folder (default: the LLM's own, from its folder or GGUF file).")
    var tokenizer: String?

    @Option(help: "A PEFT LoRA adapter folder applied to --llm (unmerged).")
    var adapter: String?

    func validate() throws {
        if context < 4 { throw ValidationError("--context \(context): must be at least 4") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks \(chunks): must be positive") }
    }

    func run() throws {
        guard let bytes = FileManager.default.contents(atPath: data) else {
            throw ValidationError("--data \(data): cannot read the file")
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw ValidationError("--data \(data): not UTF-8 text")
        }
        func load(_ path: String) throws -> CausalLM {
            try CausalLM.load(directory: URL(fileURLWithPath: path), frozen: true)
        }
        let textTokenizer = try Tokenizer.forLLM(
            URL(fileURLWithPath: llm), tokenizer: tokenizer.map { URL(fileURLWithPath: $0) })
        let model = try load(llm)
        if let adapter { try PEFTAdapter.load(URL(fileURLWithPath: adapter), into: model) }
        model.eval()
        let base = try klBase.map(load)
        let start = Date()
        let result = try PerplexityEvaluation.run(
            model: model, tokenizer: textTokenizer, text: text, context: context, chunks: chunks, base: base
        ) { done, total, ppl in
            print(String(format: "[%d/%d] %.4f", done, total, ppl))
        }
        print(
            String(
                format: "perplexity %.4f ± %.4f over %d tokens (%d chunks of %d), %.1f s", result.perplexity,
                result.perplexity * result.nllStandardError, result.scoredTokens, result.chunks, context,
                Date().timeIntervalSince(start)))
        if let d = result.divergence {
            print(String(format: "base perplexity %.4f", d.basePerplexity))
            print(
                String(format: "mean KL divergence %.6f ± %.6f, max %.6f", d.meanKL, d.meanKLStandardError, d.maximumKL)
            )
            print(String(format: "same top-1 token: %.3f %%", 100 * d.topAgreement))
        }
    }
}
