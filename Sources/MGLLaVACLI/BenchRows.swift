import Foundation

/// One row of the performance suite: what a `mgllava bench …` child reports to `mgllava bench all`.
struct BenchRow: Codable {
    var name: String
    /// Our time for the row's unit of work (a forward, a step, one decoded token).
    var seconds: Double
    /// The bound's time for the same work, measured in the same process and run (nil: the row has no bound).
    var boundSeconds: Double?
    /// What the bound is ("sgemm on the same shapes", "copy bandwidth").
    var bound: String?
    /// Peak resident set size while the row ran, in bytes (weights of models built earlier in the same child
    /// included).
    var peakRSS: Int
    /// A rate or note for the table ("8418 tokens/s").
    var detail: String?

    /// Bound time ÷ our time: 1.00 is no overhead beyond the bound.
    var ratio: Double? { boundSeconds.map { $0 / seconds } }
}

enum BenchRows {
    /// The line prefix a child's rows travel under (one JSON array after it).
    static let marker = "mgllava-bench-rows: "

    /// Prints the rows as one marked JSON line (for `bench all`).
    static func emit(_ rows: [BenchRow]) {
        guard let data = try? JSONEncoder().encode(rows), let text = String(data: data, encoding: .utf8) else { return }
        print(marker + text)
    }

    /// Rows carried by a child's output, if it printed them.
    static func parse(_ output: String) -> [BenchRow]? {
        for line in output.split(separator: "\n").reversed() where line.hasPrefix(marker) {
            return try? JSONDecoder().decode([BenchRow].self, from: Data(line.dropFirst(marker.count).utf8))
        }
        return nil
    }

    static func formatTime(_ seconds: Double) -> String {
        seconds >= 1 ? String(format: "%.2f s", seconds) : String(format: "%.1f ms", seconds * 1e3)
    }

    /// The suite's table: row, time, bound time, ratio, peak RSS, detail.
    static func table(_ rows: [BenchRow]) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        func left(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var lines = [pad("row", 52) + left("time", 10) + left("bound", 10) + left("ratio", 7) + left("peak RSS", 11) + "  detail"]
        for r in rows {
            lines.append(pad(r.name, 52) + left(formatTime(r.seconds), 10)
                         + left(r.boundSeconds.map(formatTime) ?? "–", 10)
                         + left(r.ratio.map { String(format: "%.2f", $0) } ?? "–", 7)
                         + left(String(format: "%.2f GiB", Double(r.peakRSS) / 1_073_741_824), 11)
                         + "  " + [r.bound.map { "bound: " + $0 } ?? "", r.detail ?? ""].filter { !$0.isEmpty }.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}
