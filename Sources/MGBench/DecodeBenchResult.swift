import Foundation
import MGTensor

/// What `DecodeBench` measured: prefill and decode times of a 16-bit LLM and their bounds — raw sgemm on the
/// prefill's shapes, and the bytes one decode step reads at the streaming read bandwidth. The copy bandwidth (the
/// bound this bench used before: a memcpy also writes, so it understates the read bound ~1.5×) is reported beside.
public struct DecodeBenchResult: Sendable {
    /// Where the model came from, for the report's first line.
    public enum Origin: Sendable {
        /// Opened from a checkpoint folder, weights memory-mapped.
        case memoryMapped
        /// Built in memory with random weights.
        case inMemory
    }

    /// One kernel's prefill and decode.
    public struct Run: Sendable {
        public var kernel: HalfPrecisionKernel
        public var prefillSeconds: Double
        public var decodeSeconds: Double
        /// The greedy tokens decoded (kernels that agree on the numbers agree on these).
        public var tokens: [Int]

        public init(kernel: HalfPrecisionKernel, prefillSeconds: Double, decodeSeconds: Double, tokens: [Int]) {
            self.kernel = kernel
            self.prefillSeconds = prefillSeconds
            self.decodeSeconds = decodeSeconds
            self.tokens = tokens
        }

        public var decodeRate: Double { Double(tokens.count) / decodeSeconds }
    }

    /// Parameters of the model, and how its weights are stored ("16 bits", or the GGUF types of a quantized model).
    public var parameterCount: Int
    public var format: String
    public var weightBytes: Int
    public var embedBytes: Int
    /// Weight bytes a decode step reads: every weight except the embedding table (one row of it).
    public var bytesPerToken: Int
    /// KV-cache bytes a decode step reads, on average over the timed steps (float32 keys and values of every
    /// layer at the positions before it: the prompt and the tokens decoded so far).
    public var cacheBytesPerToken: Int
    public var promptTokens: Int
    public var runs: [Run]
    /// The prefill's GEMM FLOPs (every layer's linears and attention products, the LM head's last row).
    public var prefillFlops: Double
    /// Raw sgemm on the prefill's GEMM shapes (one layer's, times the layer count, plus the LM head).
    public var prefillBoundSeconds: Double
    /// Streaming read bandwidth in bytes per second (the decode bound).
    public var readBandwidth: Double
    /// memcpy bandwidth in bytes per second (reported for comparison with earlier figures).
    public var copyBandwidth: Double
    public var peakRSS: Int

    public init(
        parameterCount: Int, format: String, weightBytes: Int, embedBytes: Int, bytesPerToken: Int,
        cacheBytesPerToken: Int,
        promptTokens: Int, runs: [Run], prefillFlops: Double, prefillBoundSeconds: Double, readBandwidth: Double,
        copyBandwidth: Double,
        peakRSS: Int
    ) {
        self.parameterCount = parameterCount
        self.format = format
        self.weightBytes = weightBytes
        self.embedBytes = embedBytes
        self.bytesPerToken = bytesPerToken
        self.cacheBytesPerToken = cacheBytesPerToken
        self.promptTokens = promptTokens
        self.runs = runs
        self.prefillFlops = prefillFlops
        self.prefillBoundSeconds = prefillBoundSeconds
        self.readBandwidth = readBandwidth
        self.copyBandwidth = copyBandwidth
        self.peakRSS = peakRSS
    }

    /// Tokens per second the read bandwidth allows for the weights and the KV cache a step reads.
    public var bound: Double { readBandwidth / Double(bytesPerToken + cacheBytesPerToken) }
    /// Tokens per second the copy bandwidth allows (the earlier, understated bound).
    public var copyBound: Double { copyBandwidth / Double(bytesPerToken + cacheBytesPerToken) }

    /// The printed lines: model size and load, the bounds, then per kernel prefill (÷ sgemm) and decode (÷ the
    /// read bound), peak RSS.
    public func report(loadTime: Double, origin: Origin) -> String {
        let source = origin == .memoryMapped ? "opened in %.2f s, memory-mapped" : "built in %.2f s, in memory"
        var lines = [
            String(
                format: "model: %.2f B parameters, %.2f GB in %@ (" + source + ")",
                Double(parameterCount) / 1e9, Double(weightBytes) / 1e9, format, loadTime),
            String(
                format: "bounds: prefill of %d tokens = raw sgemm on its shapes %.2f s (%.1f GFLOP/s); decode = %.2f GB"
                    + " of weights + %.2f GB of KV cache per token at a read bandwidth of %.2f GB/s = %.3f tokens/s (copy bandwidth %.2f GB/s: %.3f,"
                    + " the bound before)",
                promptTokens, prefillBoundSeconds, prefillFlops / prefillBoundSeconds / 1e9,
                Double(bytesPerToken) / 1e9, Double(cacheBytesPerToken) / 1e9, readBandwidth / 1e9, bound,
                copyBandwidth / 1e9, copyBound)
        ]
        for run in runs {
            lines.append(
                String(
                    format: "%@: prefill %.2f s = %.1f tokens/s (%.2f of sgemm); decode %d tokens in %.2f s = %.3f"
                        + " tokens/s (%.2f of the read bound)",
                    label(run), run.prefillSeconds, Double(promptTokens) / run.prefillSeconds,
                    prefillBoundSeconds / run.prefillSeconds, run.tokens.count, run.decodeSeconds, run.decodeRate,
                    run.decodeRate / bound))
        }
        if let first = runs.first, runs.count > 1 {
            let same = runs.dropFirst().map { $0.tokens == first.tokens ? "same" : "different" }
            lines.append("greedy tokens vs \(first.kernel.flag): " + same.joined(separator: ", "))
        }
        lines.append(String(format: "peak RSS %.2f GB", Double(peakRSS) / 1e9))
        return lines.joined(separator: "\n")
    }

    /// A run's name: its 16-bit kernel, or the quantized model's format (the 16-bit kernels do not touch it).
    func label(_ run: Run) -> String { isQuantized ? format : run.kernel.flag }

    /// True when the weights are ggml block-quantized.
    public var isQuantized: Bool { format != "16 bits" }

    /// The suite's rows (for `bench all`): each kernel's prefill and decode.
    public var rows: [BenchRow] {
        runs.flatMap { run in
            [
                BenchRow(
                    name:
                        "7B \(isQuantized ? format : "bf16 (" + run.kernel.flag + ")") prefill, \(promptTokens) tokens",
                    seconds: run.prefillSeconds,
                    boundSeconds: prefillBoundSeconds, bound: "sgemm on the same shapes", peakRSS: peakRSS,
                    detail: String(format: "%.1f tokens/s", Double(promptTokens) / run.prefillSeconds)),
                BenchRow(
                    name: "7B \(isQuantized ? format : "bf16 (" + run.kernel.flag + ")") decode, one token",
                    seconds: 1 / run.decodeRate,
                    boundSeconds: 1 / bound, bound: String(format: "read bandwidth %.2f GB/s", readBandwidth / 1e9),
                    peakRSS: peakRSS,
                    detail: String(
                        format: "%.3f tokens/s; %.2f of the copy bound", run.decodeRate, run.decodeRate / copyBound))
            ]
        }
    }
}
