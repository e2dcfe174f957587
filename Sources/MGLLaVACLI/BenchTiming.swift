import Foundation

/// Wall-clock timing helpers for `mgllava bench`: each measurement repeats the body and keeps the fastest run,
/// and the candidates being compared are interleaved in one loop so that noise from a shared machine hits both.
enum BenchTiming {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Fastest time of each body over `repeats` interleaved rounds (after one warm-up round).
    static func interleaved(repeats: Int, _ bodies: [() -> Void]) -> [Double] {
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
    static func interleaved(repeats: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = now()
            body()
            best = min(best, now() - t0)
        }
        return best
    }

    /// Peak resident set size of this process so far, in bytes (VmHWM from /proc/self/status).
    static func peakRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:\t  123456 kB": fields are separated by a tab and spaces.
            let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }

    /// Resets the kernel's peak-RSS mark to the current RSS (Linux `clear_refs` 5), so a later `peakRSS` measures
    /// one phase.
    static func resetPeakRSS() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }

    static func format(seconds: Double) -> String {
        seconds < 1e-3 ? String(format: "%7.1f µs", seconds * 1e6) : String(format: "%7.2f ms", seconds * 1e3)
    }
}
