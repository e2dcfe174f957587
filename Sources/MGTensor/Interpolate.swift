import Foundation

// Bilinear resize of NCHW tensors, as PyTorch's `F.interpolate(mode='bilinear', align_corners=…)` with an
// explicit output size and no antialias. Source coordinates are computed in Float like PyTorch's CPU kernel.

/// Per output index of a 1-D linear resize: the two source indices and their weights (PyTorch's arithmetic).
/// Public so that composed samplers (RoIAlign over a resized map) can reproduce the resize exactly.
public struct LinearTaps: Sendable {
    public var i0: [Int], i1: [Int], w0: [Float], w1: [Float]

    public init(inSize: Int, outSize: Int, alignCorners: Bool) {
        i0 = []; i1 = []; w0 = []; w1 = []
        let scale: Float
        if alignCorners {
            scale = outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0
        } else {
            scale = Float(inSize) / Float(outSize)
        }
        for o in 0..<outSize {
            var src: Float
            if alignCorners {
                src = scale * Float(o)
            } else {
                // PyTorch's compiled kernel contracts this to one fused multiply-add; so do we, for bit parity.
                src = Float(-0.5).addingProduct(scale, Float(o) + 0.5)
                if src < 0 { src = 0 }
            }
            let lo = Swift.min(Int(src), inSize - 1)
            let hi = lo + (lo < inSize - 1 ? 1 : 0)
            let l1 = src - Float(lo)
            i0.append(lo); i1.append(hi); w0.append(1 - l1); w1.append(l1)
        }
    }
}

extension Tensor {
    /// Bilinear resize of [N, C, H, W] to [N, C, height, width].
    public func interpolateBilinear(height outH: Int, width outW: Int, alignCorners: Bool) -> Tensor {
        precondition(rank == 4, "interpolate: expects NCHW, got \(shape)")
        precondition(outH > 0 && outW > 0 && shape[2] > 0 && shape[3] > 0, "interpolate: \(shape) to \(outH)×\(outW)")
        let input = float()
        let planes = shape[0] * shape[1], h = shape[2], w = shape[3]
        let ty = LinearTaps(inSize: h, outSize: outH, alignCorners: alignCorners)
        let tx = LinearTaps(inSize: w, outSize: outW, alignCorners: alignCorners)
        let out = Tensor.uninitialized([shape[0], shape[1], outH, outW])
        let src = input.storage.floats, dst = out.storage.floats
        Parallel.forEachChunk(planes, costPerItem: outH * outW * 6) { r in
            for p in r {
                let s = src + p * h * w, d = dst + p * outH * outW
                for oy in 0..<outH {
                    let r0 = s + ty.i0[oy] * w, r1 = s + ty.i1[oy] * w
                    let h0 = ty.w0[oy], h1 = ty.w1[oy]
                    for ox in 0..<outW {
                        let x0 = tx.i0[ox], x1 = tx.i1[ox], w0 = tx.w0[ox], w1 = tx.w1[ox]
                        d[oy * outW + ox] = h0 * (w0 * r0[x0] + w1 * r0[x1]) + h1 * (w0 * r1[x0] + w1 * r1[x1])
                    }
                }
            }
        }
        return Tensor.record("interpolate_bilinear", out, inputs: [self]) { g in
            [Tensor.bilinearAdjoint(g, height: h, width: w, alignCorners: alignCorners)]
        }
    }

    /// The adjoint (transpose) of `interpolateBilinear` to `g`'s size: scatters [N, C, outH, outW] back onto an
    /// [N, C, height, width] grid with the same taps. It is the resize's backward, and it also turns a weight map on
    /// the resized grid into the equivalent weight map on the source grid.
    public static func bilinearAdjoint(_ g: Tensor, height h: Int, width w: Int, alignCorners: Bool) -> Tensor {
        precondition(g.rank == 4, "bilinear adjoint: expects NCHW, got \(g.shape)")
        let planes = g.shape[0] * g.shape[1], outH = g.shape[2], outW = g.shape[3]
        let ty = LinearTaps(inSize: h, outSize: outH, alignCorners: alignCorners)
        let tx = LinearTaps(inSize: w, outSize: outW, alignCorners: alignCorners)
        let gx = Tensor.zeros([g.shape[0], g.shape[1], h, w])
        let gf = g.float()
        let gp = gf.storage.floats, xp = gx.storage.floats
        Parallel.forEachChunk(planes, costPerItem: outH * outW * 8) { r in
            for p in r {
                let s = gp + p * outH * outW, d = xp + p * h * w
                for oy in 0..<outH {
                    let r0 = d + ty.i0[oy] * w, r1 = d + ty.i1[oy] * w
                    let h0 = ty.w0[oy], h1 = ty.w1[oy]
                    for ox in 0..<outW {
                        let v = s[oy * outW + ox]
                        if v == 0 { continue }
                        let x0 = tx.i0[ox], x1 = tx.i1[ox], w0 = tx.w0[ox], w1 = tx.w1[ox]
                        r0[x0] += h0 * w0 * v; r0[x1] += h0 * w1 * v
                        r1[x0] += h1 * w0 * v; r1[x1] += h1 * w1 * v
                    }
                }
            }
        }
        return gx
    }
}
