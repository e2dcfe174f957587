import Foundation

extension GemmBench {
    /// The printed result of `mgllava bench gemm`: one line per shape (ours, raw, our GFLOP/s, ours ÷ raw, the raw
    /// call), then the process's peak RSS.
    public static func report(_ rows: [Row], peakRSS: Int = ResidentMemory.peak()) -> String {
        var lines = [
            "shape".padding(toLength: 42, withPad: " ", startingAt: 0)
                + "      ours       raw   ours GFLOP/s  ours÷raw  raw"
        ]
        for r in rows {
            lines.append(
                r.name.padding(toLength: 42, withPad: " ", startingAt: 0)
                    + " " + BenchTiming.format(seconds: r.ours) + " " + BenchTiming.format(seconds: r.raw)
                    + String(format: "  %12.1f  %8.3f  ", r.flops / r.ours / 1e9, r.ours / r.raw) + r.rawName)
        }
        lines.append(String(format: "peak RSS %.0f MiB", Double(peakRSS) / 1_048_576))
        return lines.joined(separator: "\n")
    }
}
