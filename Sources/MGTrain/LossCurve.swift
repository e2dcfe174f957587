// MGTrain — the loss-curve picture written next to metrics.jsonl (DESIGN §6): a self-contained SVG, viewable in
// any browser, with the per-step loss and its exponential moving average.
import Foundation

/// `loss_curve.svg`: the loss per iteration and its moving average.
public enum LossCurve {
    /// The SVG for `records` (empty records give an empty chart with a note).
    public static func svg(_ records: [TrainMetricsRecord], title: String) -> String {
        let width = 720.0, height = 360.0
        let left = 64.0, right = 16.0, top = 36.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let points = records.filter { $0.loss.isFinite }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="14">\(escape(title))</text>

            """
        guard let first = points.first, let last = points.last else {
            return svg + "<text x=\"\(left)\" y=\"\(top + 20)\">no finite loss recorded</text>\n</svg>\n"
        }
        let x0 = Double(first.iteration), x1 = Double(max(last.iteration, first.iteration + 1))
        let losses = points.map(\.loss)
        let lo = min(0, losses.min() ?? 0), hi = max(losses.max() ?? 1, lo + 1e-6)
        func px(_ it: Int) -> Double { left + (Double(it) - x0) / (x1 - x0) * plotW }
        func py(_ loss: Double) -> Double { top + (1 - (loss - lo) / (hi - lo)) * plotH }

        // Axes and horizontal grid with 5 loss ticks.
        svg +=
            "<g stroke=\"#888\" stroke-width=\"1\"><line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\"/></g>\n"
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4, y = py(v)
            svg += "<line x1=\"\(left)\" y1=\"\(fmt(y))\" x2=\"\(left + plotW)\" y2=\"\(fmt(y))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(left - 6)\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
        }
        for i in 0...4 {
            let it = Int(x0 + (x1 - x0) * Double(i) / 4)
            svg += "<text x=\"\(fmt(px(it)))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(it)</text>\n"
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">iteration</text>\n"
        svg +=
            "<text x=\"14\" y=\"\(top + plotH / 2)\" transform=\"rotate(-90 14 \(top + plotH / 2))\" text-anchor=\"middle\">loss</text>\n"

        let raw = points.map { "\(fmt(px($0.iteration))),\(fmt(py($0.loss)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"\(raw)\"/>\n"
        var ema = first.loss
        let smooth = points.map { r -> String in
            ema = 0.9 * ema + 0.1 * r.loss
            return "\(fmt(px(r.iteration))),\(fmt(py(ema)))"
        }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"\(smooth)\"/>\n"
        svg +=
            "<text x=\"\(left + plotW)\" y=\"22\" text-anchor=\"end\" fill=\"#08519c\">"
            + String(format: "loss %.4f → %.4f (EMA 0.9)", first.loss, ema) + "</text>\n"
        return svg + "</svg>\n"
    }

    /// Writes `loss_curve.svg` into `workDir` atomically; returns its URL.
    @discardableResult
    public static func write(_ records: [TrainMetricsRecord], title: String, workDir: URL) throws -> URL {
        let url = workDir.appendingPathComponent("loss_curve.svg")
        do { try Data(svg(records, title: title).utf8).write(to: url, options: .atomic) } catch {
            throw TrainerError.writeFailed(url.path, DataError.plainReason(error))
        }
        return url
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
