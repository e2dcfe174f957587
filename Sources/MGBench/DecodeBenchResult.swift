import Foundation

/// What `DecodeBench` measured: prefill and decode times of a bf16 LLM and the copy bandwidth they are compared
/// with (the bound: the bytes one decode step reads, at that bandwidth).
public struct DecodeBenchResult: Equatable, Sendable {
    /// Where the model came from, for the report's first line.
    public enum Origin: Sendable {
        /// Opened from a checkpoint folder, weights memory-mapped.
        case memoryMapped
        /// Built in memory with random weights.
        case inMemory
    }

    public var weightBytes: Int
    public var embedBytes: Int
    /// Bytes a decode step reads: every weight except the embedding table (one row of it).
    public var bytesPerToken: Int
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodedTokens: Int
    public var decodeSeconds: Double
    /// Copy bandwidth in bytes per second.
    public var bandwidth: Double
    public var peakRSS: Int

    public init(
        weightBytes: Int, embedBytes: Int, bytesPerToken: Int, promptTokens: Int, prefillSeconds: Double,
        decodedTokens: Int, decodeSeconds: Double, bandwidth: Double, peakRSS: Int
    ) {
        self.weightBytes = weightBytes
        self.embedBytes = embedBytes
        self.bytesPerToken = bytesPerToken
        self.promptTokens = promptTokens
        self.prefillSeconds = prefillSeconds
        self.decodedTokens = decodedTokens
        self.decodeSeconds = decodeSeconds
        self.bandwidth = bandwidth
        self.peakRSS = peakRSS
    }

    public var decodeRate: Double { Double(decodedTokens) / decodeSeconds }
    /// Tokens per second the copy bandwidth allows.
    public var bound: Double { bandwidth / Double(bytesPerToken) }

    /// The printed lines: model size and load, prefill, decode, bandwidth and bound, peak RSS.
    public func report(loadTime: Double, origin: Origin) -> String {
        let source = origin == .memoryMapped ? "opened in %.2f s, memory-mapped" : "built in %.2f s, in memory"
        let flops = 2.0 * Double(weightBytes - embedBytes) / 2 * Double(promptTokens)
        return [
            String(
                format: "model: %.2f B parameters, %.2f GB in bf16 (" + source + ")",
                Double(weightBytes) / 2e9, Double(weightBytes) / 1e9, loadTime),
            String(
                format: "prefill: %d tokens in %.2f s = %.1f tokens/s (%.1f GFLOP/s)", promptTokens, prefillSeconds,
                Double(promptTokens) / prefillSeconds, flops / prefillSeconds / 1e9),
            String(format: "decode: %d tokens in %.2f s = %.3f tokens/s", decodedTokens, decodeSeconds, decodeRate),
            String(
                format:
                    "copy bandwidth %.2f GB/s → bound %.3f tokens/s (%.2f GB read per token); decode ÷ bound = %.2f",
                bandwidth / 1e9, bound, Double(bytesPerToken) / 1e9, decodeRate / bound),
            String(format: "peak RSS %.2f GB", Double(peakRSS) / 1e9)
        ].joined(separator: "\n")
    }

    /// The suite's row (for `bench all`).
    public var rows: [BenchRow] {
        [
            BenchRow(
                name: "7B bf16 decode, one token (prompt \(promptTokens))", seconds: 1 / decodeRate,
                boundSeconds: 1 / bound, bound: String(format: "copy bandwidth %.2f GB/s", bandwidth / 1e9),
                peakRSS: peakRSS,
                detail: String(
                    format: "%.3f tokens/s; prefill %.1f tokens/s", decodeRate, Double(promptTokens) / prefillSeconds))
        ]
    }
}
