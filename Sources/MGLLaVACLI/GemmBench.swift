import Foundation
import COpenBLAS
import MGTensor

/// `mgllava bench gemm`: our matmul, conv2d and attention on MG-LLaVA's real shapes against raw OpenBLAS calls on
/// the same shapes in the same run. The ratio printed is ours ÷ raw time (1.00 = no overhead).
struct GemmBench {
    var repeats: Int
    var quick: Bool

    struct Row {
        var name: String
        var flops: Double
        var ours: Double
        var raw: Double
        var rawName: String
    }

    func run() -> [Row] {
        var rows: [Row] = []
        var gen = Generator(seed: 0)
        // Linear layers y = x·Wᵀ: (tokens M, in K, out N).
        var linearShapes: [(String, Int, Int, Int)] = [
            ("ViT qkv/o 577×1024→1024", 577, 1024, 1024),
            ("ViT fused qkv 577×1024→3072", 577, 1024, 3072),
            ("ViT fc1 577×1024→4096", 577, 1024, 4096),
            ("ViT fc2 577×4096→1024", 577, 4096, 1024),
            ("LLM attn 512×4096→4096", 512, 4096, 4096),
            ("LLM up 512×4096→11008", 512, 4096, 11008),
            ("LLM down 512×11008→4096", 512, 11008, 4096),
        ]
        if quick { linearShapes = [("ViT qkv/o 577×1024→1024", 577, 1024, 1024)] }
        for (name, m, k, n) in linearShapes {
            let x = Tensor.randn([m, k], generator: &gen), w = Tensor.randn([n, k], std: 0.02, generator: &gen)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
            defer { c.deallocate() }
            let px = x.storage.floats, pw = w.storage.floats
            let times = BenchTiming.interleaved(repeats: repeats, [
                { _ = withNoGrad { x.linear(weight: w) } },
                { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, px, Int32(k),
                              pw, Int32(k), 0, c, Int32(n)) },
            ])
            rows.append(Row(name: name, flops: 2.0 * Double(m * n * k), ours: times[0], raw: times[1], rawName: "sgemm"))
        }
        // Decode: M = 1. Ours must take the gemv path; raw sgemv is the bound, and sgemm(M=1) is shown for contrast.
        let decodeShapes: [(String, Int, Int)] = quick ? [("decode 1×4096→4096", 4096, 4096)] : [
            ("decode 1×4096→4096", 4096, 4096), ("decode 1×4096→11008", 4096, 11008), ("decode 1×11008→4096", 11008, 4096),
        ]
        for (name, k, n) in decodeShapes {
            let x = Tensor.randn([1, k], generator: &gen), w = Tensor.randn([n, k], std: 0.02, generator: &gen)
            let y = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { y.deallocate() }
            let px = x.storage.floats, pw = w.storage.floats
            let times = BenchTiming.interleaved(repeats: repeats * 4, [
                { _ = withNoGrad { x.linear(weight: w) } },
                { cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, pw, Int32(k), px, 1, 0, y, 1) },
                { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, Int32(n), Int32(k), 1, px, Int32(k),
                              pw, Int32(k), 0, y, Int32(n)) },
            ])
            rows.append(Row(name: name, flops: 2.0 * Double(n * k), ours: times[0], raw: times[1], rawName: "sgemv"))
            rows.append(Row(name: name + " (raw sgemm M=1)", flops: 2.0 * Double(n * k), ours: times[2], raw: times[1],
                            rawName: "sgemv"))
        }
        if !quick {
            rows.append(convStem(&gen))
            rows.append(attention(&gen))
        }
        return rows
    }

    /// ConvNeXt-L stem at 768: 3→192 channels, 4×4 stride 4 → im2col [48, 192·192] and one GEMM.
    private func convStem(_ gen: inout Generator) -> Row {
        let x = Tensor.randn([1, 3, 768, 768], generator: &gen), w = Tensor.randn([192, 3, 4, 4], std: 0.1, generator: &gen)
        let m = 192, k = 48, n = 192 * 192
        let col = Tensor.randn([k, n], generator: &gen)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { c.deallocate() }
        let times = BenchTiming.interleaved(repeats: repeats, [
            { _ = withNoGrad { x.conv2d(weight: w, bias: nil, stride: (4, 4)) } },
            { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, w.storage.floats,
                          Int32(k), col.storage.floats, Int32(n), 0, c, Int32(n)) },
        ])
        return Row(name: "conv stem 3×768²→192×192² k4s4", flops: 2.0 * Double(m * n * k), ours: times[0], raw: times[1],
                   rawName: "sgemm on im2col shape")
    }

    /// ViT-L self-attention core: 16 heads × 577 tokens × 64 dims (QKᵀ, softmax, PV).
    private func attention(_ gen: inout Generator) -> Row {
        let h = 16, l = 577, d = 64
        let q = Tensor.randn([1, h, l, d], generator: &gen), k = Tensor.randn([1, h, l, d], generator: &gen)
        let v = Tensor.randn([1, h, l, d], generator: &gen)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: l * l), o = UnsafeMutablePointer<Float>.allocate(capacity: l * d)
        defer { s.deallocate(); o.deallocate() }
        let times = BenchTiming.interleaved(repeats: repeats, [
            { _ = withNoGrad { Tensor.scaledDotProductAttention(query: q, key: k, value: v) } },
            {
                for hi in 0..<h {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(l), Int32(d), 0.125,
                                q.storage.floats + hi * l * d, Int32(d), k.storage.floats + hi * l * d, Int32(d), 0, s, Int32(l))
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(d), Int32(l), 1, s, Int32(l),
                                v.storage.floats + hi * l * d, Int32(d), 0, o, Int32(d))
                }
            },
        ])
        return Row(name: "ViT attention 16×577×64", flops: 4.0 * Double(h * l * l * d), ours: times[0], raw: times[1],
                   rawName: "2 sgemm per head")
    }

    static func print(_ rows: [Row]) {
        Swift.print("shape".padding(toLength: 42, withPad: " ", startingAt: 0)
                    + "      ours       raw   ours GFLOP/s  ours÷raw  raw")
        for r in rows {
            let line = r.name.padding(toLength: 42, withPad: " ", startingAt: 0)
                + " " + BenchTiming.format(seconds: r.ours) + " " + BenchTiming.format(seconds: r.raw)
                + String(format: "  %12.1f  %8.3f  ", r.flops / r.ours / 1e9, r.ours / r.raw) + r.rawName
            Swift.print(line)
        }
        Swift.print(String(format: "peak RSS %.0f MiB", Double(BenchTiming.peakRSS()) / 1_048_576))
    }
}
