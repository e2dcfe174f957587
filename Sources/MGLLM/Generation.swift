import Foundation
import MGTensor

/// Generation settings beyond sampling.
public struct GenerationConfig: Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingConfig
    /// Generation of a row stops after any of these ids (EOS; the template's stop token ids).
    public var stopTokenIds: Set<Int>

    public init(maxNewTokens: Int, sampling: SamplingConfig = .greedy, stopTokenIds: Set<Int> = []) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.stopTokenIds = stopTokenIds
    }
}

/// One generated step of one row, for streaming and for `--json` output.
public struct GeneratedStep: Sendable {
    public var row: Int
    public var token: Int
    /// The top-5 (id, log-probability) of the raw logits at this step.
    public var topLogprobs: [(Int, Float)]
}

extension CausalLM {
    /// Generates from prompts given as embeddings (one [L_i, H] tensor per row — text embeddings, or MG-LLaVA's
    /// spliced visual + text embeddings). Rows are left-padded, with positions counted over real tokens only, so a
    /// batch yields the same tokens as the same prompts one by one. `onStep` sees every token as it is produced
    /// (return false to stop all rows, e.g. on a stop word found in the decoded text). Returns the new ids per row,
    /// each ending at (and including) its stop token when one was produced.
    public func generate(
        prompts: [Tensor], config: GenerationConfig,
        onStep: (GeneratedStep) -> Bool = { _ in true }
    ) -> [[Int]] {
        precondition(
            !prompts.isEmpty && prompts.allSatisfy { $0.rank == 2 && $0.shape[1] == architecture.hiddenSize },
            "generate: prompts must be [L, \(architecture.hiddenSize)] embeddings")
        return withNoGrad {
            let b = prompts.count
            let lengths = prompts.map { $0.shape[0] }
            let longest = lengths.max() ?? 0
            // Left padding: zeros before each prompt, masked out.
            let padded = Tensor.stack(
                prompts.map { p in
                    p.shape[0] == longest ? p : p.padded([(longest - p.shape[0], 0), (0, 0)])
                }, axis: 0)
            var mask = lengths.map { [Int](repeating: 0, count: longest - $0) + [Int](repeating: 1, count: $0) }
            let positions = lengths.map { n in [Int](repeating: 0, count: longest - n) + Array(0..<n) }
            let cache = KVCache(architecture: architecture, batch: b, capacity: longest + config.maxNewTokens)
            var out = self(
                inputsEmbeds: padded, attentionMask: mask, positionIds: positions, cache: cache,
                logitsForLastOnly: true)
            var samplers = (0..<b).map { _ in TokenSampler(config.sampling) }
            var generated = [[Int]](repeating: [], count: b)
            var finished = [Bool](repeating: false, count: b)
            var nextPositions = lengths
            for _ in 0..<config.maxNewTokens {
                guard let logits = out.logits else { break }
                let v = logits.shape[2]
                var tokens = [Int](repeating: 0, count: b)
                var keepGoing = true
                logits.withFloats { all in
                    for row in 0..<b {
                        let rowLogits = UnsafeBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)])
                        let token = samplers[row].next(rowLogits)
                        tokens[row] = token
                        if finished[row] { continue }
                        generated[row].append(token)
                        if !onStep(GeneratedStep(row: row, token: token, topLogprobs: Self.topLogprobs(rowLogits, 5))) {
                            keepGoing = false
                        }
                        if config.stopTokenIds.contains(token) { finished[row] = true }
                    }
                }
                if !keepGoing || finished.allSatisfy({ $0 })
                    || generated.allSatisfy({ $0.count >= config.maxNewTokens })
                {
                    break
                }
                for row in 0..<b { mask[row].append(1) }
                let step = embed(tokens.map { [$0] })  // [B, 1, H]
                out = self(
                    inputsEmbeds: step, attentionMask: mask, positionIds: nextPositions.map { [$0] }, cache: cache,
                    logitsForLastOnly: true)
                nextPositions = nextPositions.map { $0 + 1 }
            }
            return generated
        }
    }

    /// The k largest log-softmax values of a logits row, best first.
    public static func topLogprobs(_ logits: UnsafeBufferPointer<Float>, _ k: Int) -> [(Int, Float)] {
        var m = -Float.infinity
        for x in logits { m = Swift.max(m, x) }
        var total = 0.0
        for x in logits { total += Double(Foundation.exp(x - m)) }
        let lse = m + Float(Foundation.log(total))
        var best: [(Int, Float)] = []
        for (i, x) in logits.enumerated() {
            if best.count < k || x > best[best.count - 1].1 {
                best.append((i, x))
                best.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                if best.count > k { best.removeLast() }
            }
        }
        return best.map { ($0.0, $0.1 - lse) }
    }
}
