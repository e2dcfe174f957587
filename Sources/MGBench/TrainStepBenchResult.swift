import Foundation

/// What `TrainStepBench` measured: the decoder layer's forward and forward + backward against raw sgemm on the same
/// GEMM shapes (timed interleaved in the same run), and the tiny stack's step.
public struct TrainStepBenchResult: Equatable, Sendable {
    public var sequence: Int
    public var forwardSeconds: Double
    public var forwardBoundSeconds: Double
    public var forwardFlops: Double
    public var forwardRSS: Int
    public var stepSeconds: Double
    public var stepBoundSeconds: Double
    public var stepFlops: Double
    public var stepRSS: Int
    public var tiny: TinyStackStep.Result

    /// The printed table: time, GFLOP/s, sgemm GFLOP/s, ratio and peak RSS per row, and what the ratio is.
    public var report: String {
        var lines = [
            "row".padding(toLength: 44, withPad: " ", startingAt: 0)
                + "      time   GFLOP/s  sgemm GFLOP/s  ratio  peak RSS"
        ]
        func row(_ name: String, _ t: Double, _ raw: Double, _ work: Double, _ rss: Int) {
            lines.append(
                name.padding(toLength: 44, withPad: " ", startingAt: 0) + " " + BenchTiming.format(seconds: t)
                    + String(
                        format: "  %8.1f  %13.1f  %5.2f  %6.0f MiB", work / t / 1e9, work / raw / 1e9, raw / t,
                        Double(rss) / 1_048_576))
        }
        row("7B decoder layer, seq \(sequence), forward", forwardSeconds, forwardBoundSeconds, forwardFlops, forwardRSS)
        row("7B decoder layer, seq \(sequence), forward+backward", stepSeconds, stepBoundSeconds, stepFlops, stepRSS)
        lines.append(
            "tiny stack (embedded default), one SFT step".padding(toLength: 44, withPad: " ", startingAt: 0) + " "
                + BenchTiming.format(seconds: tiny.seconds)
                + String(
                    format: "  %.0f tokens/s (batch %d, %d tokens)", Double(tiny.tokens) / tiny.seconds,
                    tiny.batchSize, tiny.tokens))
        lines.append("ratio = raw sgemm time on the same GEMM shapes ÷ our time, measured interleaved in this run")
        return lines.joined(separator: "\n")
    }

    /// The suite's rows (for `bench all`).
    public var rows: [BenchRow] {
        let sgemm = "sgemm on the same shapes"
        return [
            BenchRow(
                name: "7B decoder layer, seq \(sequence), forward", seconds: forwardSeconds,
                boundSeconds: forwardBoundSeconds, bound: sgemm, peakRSS: forwardRSS,
                detail: String(format: "%.1f GFLOP/s", forwardFlops / forwardSeconds / 1e9)),
            BenchRow(
                name: "7B decoder layer, seq \(sequence), forward + backward", seconds: stepSeconds,
                boundSeconds: stepBoundSeconds, bound: sgemm, peakRSS: stepRSS,
                detail: String(format: "%.1f GFLOP/s", stepFlops / stepSeconds / 1e9)),
            BenchRow(
                name: "tiny stack, one SFT step (batch \(tiny.batchSize))", seconds: tiny.seconds,
                peakRSS: tiny.peakRSS,
                detail: String(format: "%.0f tokens/s, %d tokens", Double(tiny.tokens) / tiny.seconds, tiny.tokens))
        ]
    }
}
