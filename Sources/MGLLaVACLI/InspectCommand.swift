import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava inspect PATH`: what a checkpoint file or model folder holds — names, dtypes, shapes, parameter counts —
/// read safely (pickles are never executed). On a file it cannot read it prints why and exits non-zero, which is
/// how to check a download.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List the tensors of a checkpoint (safetensors, sharded index, .pth/.bin) or a model folder.")

    @Argument(help: "A checkpoint file or a model folder.")
    var path: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Print at most this many tensors in the table (0 = all).")
    var limit: Int = 0

    func run() throws {
        let url = URL(fileURLWithPath: path)
        let report: CheckpointInspection
        do {
            report = try CheckpointInspection(url)
        } catch {
            FileHandle.standardError.write(Data("mgllava inspect: cannot read \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.json, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            Self.printTable(report, limit: limit)
        }
    }

    static func printTable(_ report: CheckpointInspection, limit: Int) {
        print(report.source)
        if let summary = report.configSummary { print(summary) }
        let shown = limit > 0 ? Array(report.infos.prefix(limit)) : report.infos
        let width = min(max(shown.map { $0.name.count }.max() ?? 4, 4), 72)
        for i in shown {
            let shape = "[" + i.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                i.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + i.dtype.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                    + shape.padding(toLength: 18, withPad: " ", startingAt: 0) + "  " + String(i.elementCount))
        }
        if shown.count < report.infos.count {
            print("… \(report.infos.count - shown.count) more (--limit 0 shows all)")
        }
        print("")
        for (module, count) in report.byModule { print("  \(module): \(formatCount(count)) parameters") }
        let dtypes = report.byDType.sorted { $0.key < $1.key }.map { "\($0.key) \(formatCount($0.value))" }.joined(
            separator: ", ")
        print(
            "total: \(report.infos.count) tensors, \(formatCount(report.totalParameters)) parameters (\(dtypes)), "
                + String(format: "%.1f MB", Double(report.totalBytes) / 1e6))
        if !report.opaqueGlobals.isEmpty {
            print(
                "non-tensor objects in the pickle (kept inert, never run): "
                    + report.opaqueGlobals.joined(separator: ", "))
        }
    }

}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.1fK", Double(n) / 1e3) }
    return String(n)
}
