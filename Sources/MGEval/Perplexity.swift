import Foundation
import MGLLaVA

/// Perplexity of an LLM on a text, computed as llama.cpp's `llama-perplexity` computes it, and, against a base
/// model, the statistics of its `--kl-divergence` mode — so numbers for a quantized model can be set beside
/// llama.cpp's for the same GGUF file.
///
/// The text is tokenized once (with BOS when the tokenizer adds one) and cut into `floor(tokens / context)` chunks
/// of `context` tokens; each chunk runs on its own, its first token replaced by BOS when the tokenizer adds one, and
/// only the second half is scored: the logits at positions context/2 … context−2 predict the next token.
public struct PerplexityEvaluation {
    /// Statistics against the base model's distributions at the same positions.
    public struct Divergence: Sendable, Equatable {
        /// Mean KL(base ‖ model) in nats per scored token, and its standard error.
        public var meanKL: Double
        public var meanKLStandardError: Double
        /// The largest per-token KL.
        public var maximumKL: Double
        /// Fraction of scored tokens where both models' top-1 tokens agree (llama.cpp's "Same top p").
        public var topAgreement: Double
        /// The base model's perplexity on the same tokens.
        public var basePerplexity: Double
    }

    /// What one evaluation measured.
    public struct Result: Sendable, Equatable {
        public var chunks: Int
        public var scoredTokens: Int
        public var perplexity: Double
        /// Standard error of the mean negative log-likelihood (llama.cpp prints PPL ± PPL·this).
        public var nllStandardError: Double
        public var divergence: Divergence?
    }

    /// Errors that name what is wrong with the input.
    public enum Failure: Error, CustomStringConvertible {
        case tooShort(tokens: Int, needed: Int)
        case vocabularyMismatch(model: Int, base: Int)
        public var description: String {
            switch self {
            case let .tooShort(tokens, needed):
                return "the text has \(tokens) tokens; perplexity with this context needs at least \(needed) "
                    + "(two chunks), as llama-perplexity does"
            case let .vocabularyMismatch(model, base):
                return "the model's vocabulary (\(model)) differs from the base model's (\(base)): KL needs the same"
            }
        }
    }

    /// Evaluates `model` on `text`; `base` (same vocabulary) adds the KL statistics. `chunks` limits the chunks
    /// (nil = all); `progress` hears each finished chunk with the running perplexity.
    public static func run(
        model: CausalLM, tokenizer: Tokenizer, text: String, context: Int = 512, chunks: Int? = nil,
        base: CausalLM? = nil, progress: (Int, Int, Double) -> Void = { _, _, _ in }
    ) throws -> Result {
        let tokens = tokenizer.encode(text)
        let available = tokens.count / context
        guard context >= 4, tokens.count >= 2 * context else {
            throw Failure.tooShort(tokens: tokens.count, needed: 2 * context)
        }
        let vocab = model.architecture.vocabSize
        if let base, base.architecture.vocabSize != vocab {
            throw Failure.vocabularyMismatch(model: vocab, base: base.architecture.vocabSize)
        }
        let count = Swift.min(chunks ?? available, available)
        let first = context / 2
        let bos = tokenizer.encode("").first  // the tokenizer's BOS when it adds one
        var nll = 0.0, nll2 = 0.0, scored = 0
        var baseNLL = 0.0, kl = 0.0, kl2 = 0.0, klMax = 0.0, agree = 0
        for c in 0..<count {
            var ids = Array(tokens[(c * context)..<((c + 1) * context)])
            if let bos { ids[0] = bos }
            let logits = withNoGrad { model(inputsEmbeds: model.embed([ids])).logits! }.toArray()
            let baseLogits = base.map { b in withNoGrad { b(inputsEmbeds: b.embed([ids])).logits! }.toArray() }
            for j in first..<(context - 1) {
                let target = tokens[c * context + j + 1]
                let row = logits[(j * vocab)..<((j + 1) * vocab)]
                let logp = logSoftmax(row)
                let v = -logp[target]
                nll += v
                nll2 += v * v
                scored += 1
                if let baseLogits {
                    let baseRow = logSoftmax(baseLogits[(j * vocab)..<((j + 1) * vocab)])
                    baseNLL -= baseRow[target]
                    var d = 0.0
                    for i in 0..<vocab where baseRow[i] > -100 { d += exp(baseRow[i]) * (baseRow[i] - logp[i]) }
                    kl += d
                    kl2 += d * d
                    klMax = Swift.max(klMax, d)
                    if argmax(baseRow) == argmax(logp) { agree += 1 }
                }
            }
            progress(c + 1, count, exp(nll / Double(scored)))
        }
        let n = Double(scored)
        let mean = nll / n
        let stderr = scored > 1 ? ((nll2 / n - mean * mean) / (n - 1)).squareRoot() : 0
        var divergence: Divergence? = nil
        if base != nil {
            let klMean = kl / n
            divergence = Divergence(
                meanKL: klMean,
                meanKLStandardError: scored > 1 ? ((kl2 / n - klMean * klMean) / (n - 1)).squareRoot() : 0,
                maximumKL: klMax, topAgreement: Double(agree) / n, basePerplexity: exp(baseNLL / n))
        }
        return Result(
            chunks: count, scoredTokens: scored, perplexity: exp(mean), nllStandardError: stderr,
            divergence: divergence)
    }

    /// log softmax of one row of logits, in double precision.
    static func logSoftmax(_ row: ArraySlice<Float>) -> [Double] {
        let m = Double(row.max() ?? 0)
        var sum = 0.0
        for v in row { sum += exp(Double(v) - m) }
        let shift = m + log(sum)
        return row.map { Double($0) - shift }
    }

    static func argmax(_ row: [Double]) -> Int {
        var best = 0
        for i in row.indices where row[i] > row[best] { best = i }
        return best
    }
}
