import Foundation

/// The suite's rows in transit and on screen: the marked JSON line a `mgllava bench … --json` child prints, its
/// parsing by `mgllava bench all`, and the table both print (row, time, bound time, ratio, peak RSS, detail).
public enum BenchRows {
    /// The line prefix a child's rows travel under (one JSON array after it).
    public static let marker = "mgllava-bench-rows: "

    /// The rows as one marked JSON line (for `bench all`), nil if they cannot be encoded.
    public static func line(_ rows: [BenchRow]) -> String? {
        guard let data = try? JSONEncoder().encode(rows), let text = String(data: data, encoding: .utf8) else {
            return nil
        }
        return marker + text
    }

    /// Prints the rows as one marked JSON line (for `bench all`).
    public static func emit(_ rows: [BenchRow]) {
        guard let line = line(rows) else { return }
        print(line)
    }

    /// Rows carried by a child's output, if it printed them.
    public static func parse(_ output: String) -> [BenchRow]? {
        for line in output.split(separator: "\n").reversed() where line.hasPrefix(marker) {
            return try? JSONDecoder().decode([BenchRow].self, from: Data(line.dropFirst(marker.count).utf8))
        }
        return nil
    }

    public static func formatTime(_ seconds: Double) -> String {
        seconds >= 1 ? String(format: "%.2f s", seconds) : String(format: "%.1f ms", seconds * 1e3)
    }

    /// The suite's table: row, time, bound time, ratio, peak RSS, detail.
    public static func table(_ rows: [BenchRow]) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        func left(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        var lines = [
            pad("row", 52) + left("time", 10) + left("bound", 10) + left("ratio", 7) + left("peak RSS", 11) + "  detail"
        ]
        for r in rows {
            lines.append(
                pad(r.name, 52) + left(formatTime(r.seconds), 10)
                    + left(r.boundSeconds.map(formatTime) ?? "–", 10)
                    + left(r.ratio.map { String(format: "%.2f", $0) } ?? "–", 7)
                    + left(String(format: "%.2f GiB", Double(r.peakRSS) / 1_073_741_824), 11)
                    + "  "
                    + [r.bound.map { "bound: " + $0 } ?? "", r.detail ?? ""].filter { !$0.isEmpty }.joined(
                        separator: "; "))
        }
        return lines.joined(separator: "\n")
    }
}
