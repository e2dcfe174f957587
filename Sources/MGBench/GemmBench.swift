import COpenBLAS
import Foundation
import MGCLIP
import MGConvNeXt
import MGLLM
import MGTensor

/// `mgllava bench gemm`: our matmul, conv2d and attention on MG-LLaVA's real shapes (CLIP ViT-L/14-336, Vicuna-7B,
/// the ConvNeXt-L stem at 768) against raw OpenBLAS calls on the same shapes in the same run. The ratio printed is
/// ours ÷ raw time (1.00 = no overhead).
public struct GemmBench {
    public var repeats: Int
    public var quick: Bool

    /// One shape: our time and the raw call's, fastest of the interleaved rounds.
    public struct Row: Equatable, Sendable {
        public var name: String
        public var flops: Double
        public var ours: Double
        public var raw: Double
        public var rawName: String

        public init(name: String, flops: Double, ours: Double, raw: Double, rawName: String) {
            self.name = name
            self.flops = flops
            self.ours = ours
            self.raw = raw
            self.rawName = rawName
        }
    }

    /// - Parameters:
    ///   - repeats: timed rounds per shape (the fastest is kept).
    ///   - quick: one shape per kind, for a smoke test.
    public init(repeats: Int, quick: Bool) {
        self.repeats = repeats
        self.quick = quick
    }

    /// The vision tower and the LLM whose shapes are measured, and the prefill length of the LLM rows.
    static let clip = CLIPVisionArchitecture.vitL14_336, llm = LLMArchitecture.vicuna7B, prefillTokens = 512

    public func run() -> [Row] {
        var rows: [Row] = []
        var gen = Generator(seed: 0)
        // Linear layers y = x·Wᵀ: (tokens M, in K, out N).
        let t = Self.clip.numPositions, v = Self.clip.hiddenSize, vf = Self.clip.intermediateSize
        let s = Self.prefillTokens, h = Self.llm.hiddenSize, f = Self.llm.intermediateSize
        var linearShapes: [(String, Int, Int, Int)] = [
            ("ViT qkv/o \(t)×\(v)→\(v)", t, v, v),
            ("ViT fused qkv \(t)×\(v)→\(3 * v)", t, v, 3 * v),
            ("ViT fc1 \(t)×\(v)→\(vf)", t, v, vf),
            ("ViT fc2 \(t)×\(vf)→\(v)", t, vf, v),
            ("LLM attn \(s)×\(h)→\(h)", s, h, h),
            ("LLM up \(s)×\(h)→\(f)", s, h, f),
            ("LLM down \(s)×\(f)→\(h)", s, f, h)
        ]
        if quick { linearShapes = [linearShapes[0]] }
        for (name, m, k, n) in linearShapes {
            let x = Tensor.randn([m, k], generator: &gen), w = Tensor.randn([n, k], std: 0.02, generator: &gen)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
            defer { c.deallocate() }
            let px = x.storage.floats, pw = w.storage.floats
            let times = BenchTiming.interleaved(
                repeats: repeats,
                [
                    { _ = withNoGrad { x.linear(weight: w) } },
                    {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, px, Int32(k),
                            pw, Int32(k), 0, c, Int32(n))
                    }
                ])
            rows.append(
                Row(name: name, flops: 2.0 * Double(m * n * k), ours: times[0], raw: times[1], rawName: "sgemm"))
        }
        // Decode: M = 1. Ours must take the gemv path; raw sgemv is the bound, and sgemm(M=1) is shown for contrast.
        let allDecodeShapes: [(String, Int, Int)] = [
            ("decode 1×\(h)→\(h)", h, h), ("decode 1×\(h)→\(f)", h, f), ("decode 1×\(f)→\(h)", f, h)
        ]
        let decodeShapes = quick ? [allDecodeShapes[0]] : allDecodeShapes
        for (name, k, n) in decodeShapes {
            let x = Tensor.randn([1, k], generator: &gen), w = Tensor.randn([n, k], std: 0.02, generator: &gen)
            let y = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { y.deallocate() }
            let px = x.storage.floats, pw = w.storage.floats
            let times = BenchTiming.interleaved(
                repeats: repeats * 4,
                [
                    { _ = withNoGrad { x.linear(weight: w) } },
                    { cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), 1, pw, Int32(k), px, 1, 0, y, 1) },
                    {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasTrans, 1, Int32(n), Int32(k), 1, px, Int32(k),
                            pw, Int32(k), 0, y, Int32(n))
                    }
                ])
            rows.append(Row(name: name, flops: 2.0 * Double(n * k), ours: times[0], raw: times[1], rawName: "sgemv"))
            rows.append(
                Row(
                    name: name + " (raw sgemm M=1)", flops: 2.0 * Double(n * k), ours: times[2], raw: times[1],
                    rawName: "sgemv"))
        }
        if !quick {
            rows.append(convStem(&gen))
            rows.append(attention(&gen))
            rows.append(longAttention(&gen))
        }
        return rows
    }

    /// ConvNeXt-L stem at 768: 3→192 channels, 4×4 stride 4 → im2col [48, 192·192] and one GEMM.
    private func convStem(_ gen: inout Generator) -> Row {
        let a = ConvNeXtArchitecture.large, size = 768
        let cin = a.inChannels, cout = a.dims[0], grid = size / 4
        let x = Tensor.randn([1, cin, size, size], generator: &gen),
            w = Tensor.randn([cout, cin, 4, 4], std: 0.1, generator: &gen)
        let m = cout, k = cin * 16, n = grid * grid
        let col = Tensor.randn([k, n], generator: &gen)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { c.deallocate() }
        let times = BenchTiming.interleaved(
            repeats: repeats,
            [
                { _ = withNoGrad { x.conv2d(weight: w, bias: nil, stride: (4, 4)) } },
                {
                    cblas_sgemm(
                        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, w.storage.floats,
                        Int32(k), col.storage.floats, Int32(n), 0, c, Int32(n))
                }
            ])
        return Row(
            name: "conv stem \(cin)×\(size)²→\(cout)×\(grid)² k4s4", flops: 2.0 * Double(m * n * k), ours: times[0],
            raw: times[1], rawName: "sgemm on im2col shape")
    }

    /// OWLv2-L/14's self-attention core at 1008 pixels: 16 heads × 5,185 tokens × 64 dims on the projections'
    /// token-major layout (inference: query rows in cache-sized blocks) vs two multi-threaded sgemm per head.
    private func longAttention(_ gen: inout Generator) -> Row {
        let h = 16, l = 5185, d = 64
        let scale = Float(1 / Double(d).squareRoot())
        let q = Tensor.randn([1, l, h * d], generator: &gen), k = Tensor.randn([1, l, h * d], generator: &gen)
        let v = Tensor.randn([1, l, h * d], generator: &gen)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: l * l),
            o = UnsafeMutablePointer<Float>.allocate(capacity: l * h * d)
        defer { s.deallocate(); o.deallocate() }
        let times = BenchTiming.interleaved(
            repeats: repeats,
            [
                {
                    _ = Tensor.scaledDotProductAttention(
                        tokensMajorQuery: q, key: k, value: v, heads: h, keyValueHeads: h)
                },
                {
                    for hi in 0..<h {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(l), Int32(d), scale,
                            q.storage.floats + hi * d, Int32(h * d), k.storage.floats + hi * d, Int32(h * d), 0, s,
                            Int32(l))
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(d), Int32(l), 1, s, Int32(l),
                            v.storage.floats + hi * d, Int32(h * d), 0, o + hi * d, Int32(h * d))
                    }
                }
            ])
        return Row(
            name: "OWLv2-L attention \(h)×\(l)×\(d)", flops: 4.0 * Double(h * l * l * d), ours: times[0],
            raw: times[1], rawName: "2 sgemm per head")
    }

    /// ViT-L self-attention core: 16 heads × 577 tokens × 64 dims (QKᵀ, softmax, PV).
    private func attention(_ gen: inout Generator) -> Row {
        let h = Self.clip.numAttentionHeads, l = Self.clip.numPositions, d = Self.clip.headDim
        let scale = Float(1 / Double(d).squareRoot())
        let q = Tensor.randn([1, h, l, d], generator: &gen), k = Tensor.randn([1, h, l, d], generator: &gen)
        let v = Tensor.randn([1, h, l, d], generator: &gen)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: l * l),
            o = UnsafeMutablePointer<Float>.allocate(capacity: l * d)
        defer { s.deallocate(); o.deallocate() }
        let times = BenchTiming.interleaved(
            repeats: repeats,
            [
                { _ = withNoGrad { Tensor.scaledDotProductAttention(query: q, key: k, value: v) } },
                {
                    for hi in 0..<h {
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(l), Int32(l), Int32(d), scale,
                            q.storage.floats + hi * l * d, Int32(d), k.storage.floats + hi * l * d, Int32(d), 0, s,
                            Int32(l))
                        cblas_sgemm(
                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l), Int32(d), Int32(l), 1, s, Int32(l),
                            v.storage.floats + hi * l * d, Int32(d), 0, o, Int32(d))
                    }
                }
            ])
        return Row(
            name: "ViT attention \(h)×\(l)×\(d)", flops: 4.0 * Double(h * l * l * d), ours: times[0], raw: times[1],
            rawName: "2 sgemm per head")
    }
}
