import Foundation

/// This process's resident memory as Linux reports it in /proc/self (0 where it cannot be read): the figures
/// behind every "peak RSS" column of the benchmarks.
public enum ResidentMemory {
    /// Peak resident set size of this process so far, in bytes (VmHWM from /proc/self/status).
    public static func peak() -> Int { statusField("VmHWM:") }

    /// Current resident set size (VmRSS), in bytes.
    public static func current() -> Int { statusField("VmRSS:") }

    /// Resets the kernel's peak-RSS mark to the current RSS (Linux `clear_refs` 5), so a later `peak()` measures
    /// one phase.
    public static func resetPeak() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }

    /// A kB field of /proc/self/status ("VmHWM:\t  123456 kB": fields are separated by a tab and spaces), in bytes.
    static func statusField(_ prefix: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(prefix) {
            let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
