import Foundation

/// What `VisionBench` measured: per part its fastest time, FLOPs and peak RSS, and for CLIP and ConvNeXt the time
/// raw sgemm takes on the part's own GEMM shapes (the bound), measured in the same run.
public struct VisionBenchResult: Equatable, Sendable {
    public var boxes: Int
    public var clipTime = 0.0, clipGemm = 0.0, clipFlops = 0.0
    public var clipRSS = 0
    public var convTime = 0.0, convGemm = 0.0, convFlops = 0.0
    public var convRSS = 0
    public var fusionTime = 0.0, fusionFlops = 0.0
    public var fusionRSS = 0
    public var boxTime = 0.0, boxGemmFlops = 0.0
    public var boxRSS = 0
    /// Resident set size just before the box features, so their growth can be shown.
    public var rssBeforeBoxes = 0
    /// Floats of the full-resolution concatenated feature map the box features avoid building (2880×192×192).
    public var featureMapFloats = 0

    public init(boxes: Int) { self.boxes = boxes }

    /// The CLIP and ConvNeXt GFLOP/s at the bound's time: the rate our time is compared with.
    public var clipRate: Double { clipFlops / clipGemm / 1e9 }
    public var convRate: Double { convFlops / convGemm / 1e9 }

    /// The part table (time, GFLOP/s, bound GFLOP/s, ratio, peak RSS) and the box features' resident growth.
    public var table: String {
        var lines = [
            "part".padding(toLength: 34, withPad: " ", startingAt: 0)
                + "      time   GFLOP/s  bound GFLOP/s  ratio  peak RSS"
        ]
        func row(_ name: String, _ t: Double, _ flops: Double, _ rate: Double?, _ rss: Int) {
            let ours = flops / t / 1e9
            let ratio = rate.map { String(format: "%5.2f", ours / $0) } ?? "    –"
            lines.append(
                name.padding(toLength: 34, withPad: " ", startingAt: 0) + " " + BenchTiming.format(seconds: t)
                    + String(format: "  %8.1f  ", ours) + (rate.map { String(format: "%13.1f", $0) } ?? "            –")
                    + "  " + ratio + String(format: "  %6.0f MiB", Double(rss) / 1_048_576))
        }
        row("CLIP ViT-L/14-336, batch 1", clipTime, clipFlops, clipRate, clipRSS)
        row("ConvNeXt-L at 768", convTime, convFlops, convRate, convRSS)
        row("Conv-Gate fusion (24×24)", fusionTime, fusionFlops, nil, fusionRSS)
        row("box features, \(boxes) boxes", boxTime, boxGemmFlops, nil, boxRSS)
        lines.append(
            String(
                format: "box features resident growth: %.1f MiB (the 2880×192×192 map would be %.0f MiB)",
                Double(max(0, boxRSS - rssBeforeBoxes)) / 1_048_576, Double(featureMapFloats) * 4 / 1_048_576))
        return lines.joined(separator: "\n")
    }

    /// The suite's rows (for `bench all`).
    public var rows: [BenchRow] {
        let sgemm = "sgemm on the same shapes"
        return [
            BenchRow(
                name: "CLIP ViT-L/14-336, batch 1, forward", seconds: clipTime, boundSeconds: clipGemm,
                bound: sgemm, peakRSS: clipRSS, detail: String(format: "%.1f GFLOP/s", clipFlops / clipTime / 1e9)),
            BenchRow(
                name: "ConvNeXt-L at 768, forward", seconds: convTime, boundSeconds: convGemm, bound: sgemm,
                peakRSS: convRSS, detail: String(format: "%.1f GFLOP/s", convFlops / convTime / 1e9)),
            BenchRow(name: "Conv-Gate fusion (24×24)", seconds: fusionTime, peakRSS: fusionRSS),
            BenchRow(
                name: "box features, \(boxes) boxes", seconds: boxTime, peakRSS: boxRSS,
                detail: String(format: "resident growth %.1f MiB", Double(max(0, boxRSS - rssBeforeBoxes)) / 1_048_576))
        ]
    }

    /// The closing line: what the bound is, and the bound times.
    public var boundNote: String {
        "bound = the model's FLOPs at the time raw sgemm takes for exactly its GEMM shapes, measured in this run "
            + String(format: "(CLIP %.2f s, ConvNeXt %.2f s); ratio = bound time ÷ our time", clipGemm, convGemm)
    }
}
