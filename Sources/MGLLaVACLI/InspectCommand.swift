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
        let report: InspectReport
        do {
            report = try InspectReport(url)
        } catch {
            FileHandle.standardError.write(Data("mgllava inspect: cannot read \(path): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: report.json, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            report.printTable(limit: limit)
        }
    }
}

struct InspectReport {
    var source: String
    var infos: [WeightInfo]
    var opaqueGlobals: [String]
    var configSummary: String?

    init(_ url: URL) throws {
        let weights = try Checkpoint.open(url)
        source = weights.description
        infos = try weights.infos()
        // Reading every tensor's bytes is what proves a download intact: storage sizes and offsets were checked
        // at open, this touches the data (a truncated file fails here, not later in training).
        for info in infos { _ = try weights.tensor(info.name) }
        opaqueGlobals = weights.opaqueGlobals
        configSummary = InspectReport.describeConfig(url)
    }

    var totalParameters: Int { infos.reduce(0) { $0 + $1.elementCount } }
    var totalBytes: Int { infos.reduce(0) { $0 + $1.byteCount } }

    var byDType: [String: Int] {
        var counts: [String: Int] = [:]
        for i in infos { counts[i.dtype, default: 0] += i.elementCount }
        return counts
    }

    /// Parameter counts grouped by the first two key components (e.g. `llm.model`, `fuse_module.gate`).
    var byModule: [(String, Int)] {
        var groups: [String: Int] = [:]
        for i in infos {
            let parts = i.name.split(separator: ".")
            let key = parts.prefix(parts.count > 2 ? 2 : 1).joined(separator: ".")
            groups[key, default: 0] += i.elementCount
        }
        return groups.sorted { $0.key < $1.key }
    }

    static func describeConfig(_ url: URL) -> String? {
        let config = url.appendingPathComponent("config.json")
        if let d = try? LLMConfiguration.load(config) {
            return "\(d.family.rawValue) decoder: \(d.numHiddenLayers) layers, hidden \(d.hiddenSize), "
                + "\(d.numAttentionHeads) heads (\(d.numKeyValueHeads) kv), vocab \(d.vocabSize)"
        }
        if let c = try? CLIPVisionConfiguration.load(url) {
            return
                "CLIP vision tower: \(c.numHiddenLayers) layers, hidden \(c.hiddenSize), image \(c.imageSize), patch \(c.patchSize)"
        }
        if let o = try? OpenCLIPConfiguration.load(url) { return "open_clip: \(o.timmModelName) at \(o.imageSize)" }
        return nil
    }

    var json: [String: Any] {
        [
            "source": source,
            "tensors": infos.map {
                ["name": $0.name, "dtype": $0.dtype, "shape": $0.shape, "parameters": $0.elementCount]
            },
            "total_tensors": infos.count,
            "total_parameters": totalParameters,
            "total_bytes": totalBytes,
            "parameters_by_dtype": byDType,
            "opaque_globals": opaqueGlobals,
            "config": configSummary ?? NSNull()
        ]
    }

    func printTable(limit: Int) {
        print(source)
        if let configSummary { print(configSummary) }
        let shown = limit > 0 ? Array(infos.prefix(limit)) : infos
        let width = min(max(shown.map { $0.name.count }.max() ?? 4, 4), 72)
        for i in shown {
            let shape = "[" + i.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                i.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + i.dtype.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                    + shape.padding(toLength: 18, withPad: " ", startingAt: 0) + "  " + String(i.elementCount))
        }
        if shown.count < infos.count { print("… \(infos.count - shown.count) more (--limit 0 shows all)") }
        print("")
        for (module, count) in byModule { print("  \(module): \(formatCount(count)) parameters") }
        let dtypes = byDType.sorted { $0.key < $1.key }.map { "\($0.key) \(formatCount($0.value))" }.joined(
            separator: ", ")
        print(
            "total: \(infos.count) tensors, \(formatCount(totalParameters)) parameters (\(dtypes)), "
                + String(format: "%.1f MB", Double(totalBytes) / 1e6))
        if !opaqueGlobals.isEmpty {
            print("non-tensor objects in the pickle (kept inert, never run): " + opaqueGlobals.joined(separator: ", "))
        }
    }
}

func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
    if n >= 10_000 { return String(format: "%.1fK", Double(n) / 1e3) }
    return String(n)
}
