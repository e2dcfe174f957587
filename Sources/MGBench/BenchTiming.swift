import Foundation

/// Wall-clock timing helpers for the benchmarks: each measurement repeats the body and keeps the fastest run,
/// and the candidates being compared are interleaved in one loop so that noise from a shared machine hits both.
public enum BenchTiming {
    /// Seconds on the monotonic clock.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Fastest time of each body over `repeats` interleaved rounds (after one warm-up round).
    public static func interleaved(repeats: Int, _ bodies: [() -> Void]) -> [Double] {
        for b in bodies { b() }
        var best = [Double](repeating: .infinity, count: bodies.count)
        for _ in 0..<repeats {
            for (i, b) in bodies.enumerated() {
                let t0 = now()
                b()
                best[i] = min(best[i], now() - t0)
            }
        }
        return best
    }

    /// Fastest time of one body over `repeats` runs (after a warm-up run).
    public static func interleaved(repeats: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = now()
            body()
            best = min(best, now() - t0)
        }
        return best
    }

    /// A time in a fixed-width field: "  123.4 µs" below a millisecond, "   12.34 ms" above.
    public static func format(seconds: Double) -> String {
        seconds < 1e-3 ? String(format: "%7.1f µs", seconds * 1e6) : String(format: "%7.2f ms", seconds * 1e3)
    }
}
