import Foundation
import MGTensor

/// How the next token is chosen: greedy when `temperature` is 0, otherwise sampled from softmax(logits / T)
/// restricted by top-k then top-p, in that order (as HF's TemperatureLogitsWarper → TopK → TopP).
public struct SamplingConfig: Sendable, Equatable {
    public var temperature: Float
    /// 0 = no top-k filter.
    public var topK: Int
    /// 1 = no nucleus filter.
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingConfig()
    public var isGreedy: Bool { temperature <= 0 }
}

/// Picks tokens from logits rows with a seeded generator.
public struct TokenSampler {
    public let config: SamplingConfig
    var generator: Generator

    public init(_ config: SamplingConfig) {
        self.config = config
        self.generator = Generator(seed: config.seed)
    }

    /// The token for one row of logits.
    public mutating func next(_ logits: UnsafeBufferPointer<Float>) -> Int {
        let n = logits.count
        if config.isGreedy {
            // First maximum, as torch.argmax.
            var best = 0
            for i in 1..<n where logits[i] > logits[best] { best = i }
            return best
        }
        // Candidates sorted by logit (descending); stable for ties.
        var order = Array(0..<n)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if config.topK > 0 && config.topK < n { order.removeSubrange(config.topK...) }
        let scaled = order.map { Double(logits[$0] / config.temperature) }
        let m = scaled[0]
        var probs = scaled.map { Foundation.exp($0 - m) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if config.topP < 1 {
            // Keep the smallest prefix whose mass reaches top_p (always at least one token), as HF's TopP warper.
            var cumulative = 0.0, keep = 0
            for p in probs {
                keep += 1
                cumulative += p
                if cumulative >= Double(config.topP) { break }
            }
            probs = Array(probs.prefix(keep))
            order = Array(order.prefix(keep))
            let kept = probs.reduce(0, +)
            probs = probs.map { $0 / kept }
        }
        let u = generator.nextDouble()
        var acc = 0.0
        for (i, p) in probs.enumerated() {
            acc += p
            if u < acc { return order[i] }
        }
        return order[order.count - 1]
    }
}
