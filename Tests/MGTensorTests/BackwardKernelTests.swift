import XCTest
@testable import MGTensor

/// The named backward kernels (LayerNorm, RMSNorm, softmax / log_softmax, cross-entropy, attention) called
/// directly, against the textbook derivative computed in Double from the forward's inputs; and the forwards give
/// the same values whether or not they save state for a backward.
final class BackwardKernelTests: XCTestCase {
    var generator = Generator(seed: 99)

    func values(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in generator.nextNormal() * scale } }

    func assertClose(
        _ a: [Float], _ b: [Double], tolerance: Double, _ name: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertEqual(a.count, b.count, name, file: file, line: line)
        let worst = zip(a, b).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
        XCTAssertLessThan(worst, tolerance, "\(name): worst relative error \(worst)", file: file, line: line)
    }

    func testLayerNormBackward() {
        let rows = 5, d = 7
        let x = values(rows * d), g = values(rows * d)
        var xhat = [Float](repeating: 0, count: rows * d), rstd = [Float](repeating: 0, count: rows)
        var expected = [Double](repeating: 0, count: rows * d)
        for r in 0..<rows {
            let row = (0..<d).map { Double(x[r * d + $0]) }
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            let inv = 1 / (variance + 1e-5).squareRoot()
            rstd[r] = Float(inv)
            let h = row.map { ($0 - mean) * inv }
            for j in 0..<d { xhat[r * d + j] = Float(h[j]) }
            let gr = (0..<d).map { Double(g[r * d + $0]) }
            let m1 = gr.reduce(0, +) / Double(d), m2 = zip(gr, h).map(*).reduce(0, +) / Double(d)
            for j in 0..<d { expected[r * d + j] = inv * (gr[j] - m1 - h[j] * m2) }
        }
        var out = [Float](repeating: 0, count: rows * d)
        layerNormBackward(gradNormalized: g, normalized: xhat, rstd: rstd, rows: rows, d: d, gradInput: &out)
        assertClose(out, expected, tolerance: 1e-5, "layer_norm")
    }

    func testRMSNormBackward() {
        let rows = 4, d = 9
        let x = values(rows * d), g = values(rows * d)
        var rstd = [Float](repeating: 0, count: rows), expected = [Double](repeating: 0, count: rows * d)
        for r in 0..<rows {
            let row = (0..<d).map { Double(x[r * d + $0]) }, gr = (0..<d).map { Double(g[r * d + $0]) }
            let inv = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(d) + 1e-6).squareRoot()
            rstd[r] = Float(inv)
            let m = zip(gr, row).map(*).reduce(0, +) / Double(d) * inv * inv
            for j in 0..<d { expected[r * d + j] = inv * (gr[j] - row[j] * m) }
        }
        var out = [Float](repeating: 0, count: rows * d)
        rmsNormBackward(gradScaled: g, input: x, rstd: rstd, rows: rows, d: d, gradInput: &out)
        assertClose(out, expected, tolerance: 1e-5, "rms_norm")
    }

    func testSoftmaxAndLogSoftmaxBackwardAlongAMiddleAxis() {
        let outer = 2, n = 5, inner = 3
        let x = values(outer * n * inner), g = values(outer * n * inner)
        for log in [false, true] {
            var y = [Float](repeating: 0, count: x.count), expected = [Double](repeating: 0, count: x.count)
            for o in 0..<outer {
                for i in 0..<inner {
                    let index = (0..<n).map { o * n * inner + $0 * inner + i }
                    let m = index.map { Double(x[$0]) }.max() ?? 0
                    let total = index.map { Foundation.exp(Double(x[$0]) - m) }.reduce(0, +)
                    let p = index.map { Foundation.exp(Double(x[$0]) - m) / total }
                    for (j, k) in index.enumerated() { y[k] = Float(log ? Foundation.log(p[j]) : p[j]) }
                    let gs = index.map { Double(g[$0]) }
                    let sum = gs.reduce(0, +), dot = zip(gs, p).map(*).reduce(0, +)
                    for (j, k) in index.enumerated() { expected[k] = log ? gs[j] - p[j] * sum : p[j] * (gs[j] - dot) }
                }
            }
            var out = [Float](repeating: 0, count: x.count)
            softmaxBackward(gradOutput: g, output: y, log: log, outer: outer, n: n, inner: inner, gradInput: &out)
            assertClose(out, expected, tolerance: 1e-5, log ? "log_softmax" : "softmax")
        }
    }

    func testCrossEntropyBackwardWithIgnoredRows() {
        let rows = 4, classes = 6
        let logits = values(rows * classes)
        let targets = [2, -100, 5, 0]
        var logp = [Float](repeating: 0, count: logits.count), expected = [Double](repeating: 0, count: logits.count)
        let scale: Float = 0.7 / 3
        for r in 0..<rows {
            let row = (0..<classes).map { Double(logits[r * classes + $0]) }
            let m = row.max() ?? 0, lse = m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +))
            for j in 0..<classes { logp[r * classes + j] = Float(row[j] - lse) }
            guard targets[r] != -100 else { continue }
            for j in 0..<classes {
                expected[r * classes + j] = (Foundation.exp(row[j] - lse) - (j == targets[r] ? 1 : 0)) * Double(scale)
            }
        }
        var out = [Float](repeating: 1, count: logits.count)
        crossEntropyBackward(
            logProbabilities: logp, targets: targets, ignoreIndex: -100, scale: scale, rows: rows,
            classes: classes, gradInput: &out)
        assertClose(out, expected, tolerance: 1e-6, "cross_entropy")
    }

    func testAttentionBackwardWithGroupedHeads() {
        // 4 query heads over 2 key/value heads, 3 queries over 5 keys.
        let b = 1, h = 4, hkv = 2, l = 3, s = 5, d = 4, dv = 3
        let scale: Float = 0.5
        let q = values(b * h * l * d), k = values(b * hkv * s * d), v = values(b * hkv * s * dv),
            gOut = values(b * h * l * dv)
        var probs = [Float](repeating: 0, count: b * h * l * s)
        var eq = [Double](repeating: 0, count: q.count), ek = [Double](repeating: 0, count: k.count)
        var ev = [Double](repeating: 0, count: v.count)
        for hi in 0..<h {
            let kvh = hi / (h / hkv)
            func Q(_ i: Int, _ c: Int) -> Double { Double(q[(hi * l + i) * d + c]) }
            func K(_ j: Int, _ c: Int) -> Double { Double(k[(kvh * s + j) * d + c]) }
            func V(_ j: Int, _ c: Int) -> Double { Double(v[(kvh * s + j) * dv + c]) }
            func G(_ i: Int, _ c: Int) -> Double { Double(gOut[(hi * l + i) * dv + c]) }
            for i in 0..<l {
                let scores = (0..<s).map { j in Double(scale) * (0..<d).map { Q(i, $0) * K(j, $0) }.reduce(0, +) }
                let m = scores.max() ?? 0, total = scores.map { Foundation.exp($0 - m) }.reduce(0, +)
                let p = scores.map { Foundation.exp($0 - m) / total }
                for j in 0..<s { probs[(hi * l + i) * s + j] = Float(p[j]) }
                let dp = (0..<s).map { j in (0..<dv).map { G(i, $0) * V(j, $0) }.reduce(0, +) }
                let dot = zip(p, dp).map(*).reduce(0, +)
                let ds = (0..<s).map { p[$0] * (dp[$0] - dot) }
                for j in 0..<s {
                    for c in 0..<dv { ev[(kvh * s + j) * dv + c] += p[j] * G(i, c) }
                    for c in 0..<d {
                        eq[(hi * l + i) * d + c] += Double(scale) * ds[j] * K(j, c)
                        ek[(kvh * s + j) * d + c] += Double(scale) * ds[j] * Q(i, c)
                    }
                }
            }
        }
        var gq = [Float](repeating: 0, count: q.count), gk = [Float](repeating: 0, count: k.count)
        var gv = [Float](repeating: 0, count: v.count)
        let layout = AttentionLayout(b: b, h: h, hkv: hkv, l: l, capacity: s, d: d, dv: dv, tokensMajor: false)
        attentionBackward(
            layout, s: s, scale: scale, qp: q, kp: k, vp: v, probs: probs, gradOut: gOut,
            gq: &gq, gk: &gk, gv: &gv)
        assertClose(gq, eq, tolerance: 1e-5, "dQ")
        assertClose(gk, ek, tolerance: 1e-5, "dK (two query heads accumulate)")
        assertClose(gv, ev, tolerance: 1e-5, "dV (two query heads accumulate)")
    }

    func testForwardsAreIdenticalWithAndWithoutSavedState() {
        let x = Tensor(values(3 * 8), shape: [3, 8]), w = Tensor(values(8), shape: [8]),
            bias = Tensor(values(8), shape: [8])
        let plain = withNoGrad { x.layerNorm(weight: w, bias: bias, eps: 1e-5) }
        let recorded = x.requiringGrad().layerNorm(weight: w, bias: bias, eps: 1e-5)
        XCTAssertFalse(plain.requiresGrad)
        XCTAssertTrue(recorded.requiresGrad)
        XCTAssertEqual(plain.toArray(), recorded.toArray())
        let rms = withNoGrad { x.rmsNorm(weight: w, eps: 1e-6) }
        XCTAssertEqual(rms.toArray(), x.requiringGrad().rmsNorm(weight: w, eps: 1e-6).toArray())
    }
}
