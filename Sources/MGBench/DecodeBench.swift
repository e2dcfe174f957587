import Foundation
import MGLLaVA

/// `mgllava bench decode`: prefill and decode speed of a full-size LLM kept in its stored bf16 weights
/// (memory-mapped, or built in memory with random weights), against the memory-bandwidth bound measured in the
/// same run (weight bytes per token ÷ a large-buffer copy bandwidth, `CopyBandwidth`).
public struct DecodeBench {
    /// Prompt tokens for the prefill measurement.
    public var promptTokens: Int
    /// Tokens to decode.
    public var newTokens: Int

    public init(promptTokens: Int, newTokens: Int) {
        self.promptTokens = promptTokens
        self.newTokens = newTokens
    }

    /// A model of `architecture`'s shapes with random bf16 weights (`RandomWeights.bf16`), built in memory.
    public static func randomModel(_ architecture: LLMArchitecture = .vicuna7B) -> CausalLM {
        let model = CausalLM(architecture)
        RandomWeights.useBF16(model)
        return model
    }

    /// Prefills a random prompt and greedily decodes `newTokens` tokens, timing both.
    public func measure(_ model: CausalLM, bandwidth: Double) -> DecodeBenchResult {
        ResidentMemory.resetPeak()
        let weightBytes = model.namedParameters().reduce(0) { $0 + $1.1.value.storage.byteCount }
        // Bytes a decode step reads: every weight except the embedding table (one row of it).
        let embedBytes = model.embedTokens.weight.value.storage.byteCount
        let perToken = weightBytes - embedBytes + (model.architecture.tieWordEmbeddings ? embedBytes : 0)
        var gen = Generator(seed: 1)
        let prompt = (0..<promptTokens).map { _ in 1 + gen.nextInt(below: model.architecture.vocabSize - 1) }
        var prefill = 0.0, decode = 0.0
        var produced = 0
        withNoGrad {
            let cache = KVCache(architecture: model.architecture, batch: 1, capacity: promptTokens + newTokens)
            let tp = BenchTiming.now()
            var out = model(inputsEmbeds: model.embed([prompt]), cache: cache, logitsForLastOnly: true)
            prefill = BenchTiming.now() - tp
            let td = BenchTiming.now()
            for _ in 0..<newTokens {
                guard let logits = out.logits else { break }
                let next = logits.reshaped([-1]).argmax(axis: 0)[0]
                out = model(inputsEmbeds: model.embed([[next]]), cache: cache, logitsForLastOnly: true)
                produced += 1
            }
            decode = BenchTiming.now() - td
        }
        return DecodeBenchResult(
            weightBytes: weightBytes, embedBytes: embedBytes, bytesPerToken: perToken,
            promptTokens: promptTokens, prefillSeconds: prefill, decodedTokens: produced,
            decodeSeconds: decode, bandwidth: bandwidth, peakRSS: ResidentMemory.peak())
    }
}
