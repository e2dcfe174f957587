import CKernels
import Foundation

// 2-D convolution (NCHW input, OIHW weight, PyTorch floor output size), with stride, zero padding and groups.
// Depthwise convolutions (groups = in channels) run a direct kernel; everything else is im2col + GEMM per group
// (a 1×1 stride-1 unpadded conv skips im2col: the input already is the column matrix).

/// The shapes of one 2-D convolution (input, kernel, stride, padding, groups) and what follows from them.
public struct Conv2dGeometry: Sendable, Equatable {
    public var batch, inChannels, height, width: Int
    public var outChannels, kernelH, kernelW: Int
    public var strideH, strideW, padH, padW, groups: Int
    public var outH: Int { (height + 2 * padH - kernelH) / strideH + 1 }
    public var outW: Int { (width + 2 * padW - kernelW) / strideW + 1 }
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 }
    var isDepthwise: Bool { groups == inChannels && groups > 1 }
}

/// col[(c·kh + ky)·kw + kx, oy·OW + ox] = x[c, oy·s − p + ky, ox·s − p + kx] (0 outside), for one image/group.
func im2col(_ x: UnsafePointer<Float>, channels: Int, _ g: Conv2dGeometry, _ col: UnsafeMutablePointer<Float>) {
    let oh = g.outH, ow = g.outW, h = g.height, w = g.width
    Parallel.forEachChunk(channels * g.kernelH * g.kernelW, costPerItem: oh * ow) { r in
        for row in r {
            let c = row / (g.kernelH * g.kernelW), ky = (row / g.kernelW) % g.kernelH, kx = row % g.kernelW
            let dst = col + row * oh * ow, plane = x + c * h * w
            let cols = validRange(size: w, out: ow, stride: g.strideW, pad: g.padW, k: kx)
            for oy in 0..<oh {
                let iy = oy * g.strideH - g.padH + ky
                let d = dst + oy * ow
                if iy < 0 || iy >= h || cols.isEmpty { d.initialize(repeating: 0, count: ow); continue }
                for ox in 0..<cols.lowerBound { d[ox] = 0 }
                for ox in cols.upperBound..<ow { d[ox] = 0 }
                let src = plane + iy * w - g.padW + kx
                if g.strideW == 1 {
                    (d + cols.lowerBound).update(from: src + cols.lowerBound, count: cols.count)
                } else {
                    for ox in cols { d[ox] = src[ox * g.strideW] }
                }
            }
        }
    }
}

/// Adjoint of im2col: scatter-adds columns back into an image (for the input gradient).
func col2im(_ col: UnsafePointer<Float>, channels: Int, _ g: Conv2dGeometry, _ x: UnsafeMutablePointer<Float>) {
    let oh = g.outH, ow = g.outW, h = g.height, w = g.width
    // Parallel over channels: different channels write disjoint planes.
    Parallel.forEachChunk(channels, costPerItem: g.kernelH * g.kernelW * oh * ow) { r in
        for c in r {
            let plane = x + c * h * w
            for ky in 0..<g.kernelH {
                for kx in 0..<g.kernelW {
                    let src = col + ((c * g.kernelH + ky) * g.kernelW + kx) * oh * ow
                    let cols = validRange(size: w, out: ow, stride: g.strideW, pad: g.padW, k: kx)
                    for oy in 0..<oh {
                        let iy = oy * g.strideH - g.padH + ky
                        if iy < 0 || iy >= h { continue }
                        let d = plane + iy * w - g.padW + kx, s = src + oy * ow
                        for ox in cols { d[ox * g.strideW] += s[ox] }
                    }
                }
            }
        }
    }
}

/// Valid output range [lo, hi) along one axis for kernel offset k: positions o with 0 ≤ o·s − p + k < size.
@inline(__always)
func validRange(size: Int, out: Int, stride s: Int, pad p: Int, k: Int) -> Range<Int> {
    var lo = 0
    if p - k > 0 { lo = (p - k + s - 1) / s }
    var hi = out
    // o·s − p + k ≤ size − 1  ⇔  o ≤ (size − 1 + p − k)/s
    let limit = size - 1 + p - k
    hi = limit < 0 ? 0 : Swift.min(out, limit / s + 1)
    return lo < hi ? lo..<hi : 0..<0
}

extension Tensor {
    /// PyTorch `conv2d(x, weight, bias, stride, padding, groups=groups)` (dilation 1).
    public func conv2d(
        weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        groups: Int = 1
    ) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must be 4-D")
        let g = Conv2dGeometry(
            batch: shape[0], inChannels: shape[1], height: shape[2], width: shape[3],
            outChannels: weight.shape[0], kernelH: weight.shape[2], kernelW: weight.shape[3],
            strideH: stride.0, strideW: stride.1, padH: padding.0, padW: padding.1, groups: groups)
        precondition(
            groups > 0 && g.inChannels % groups == 0 && g.outChannels % groups == 0,
            "conv2d: groups \(groups) must divide in (\(g.inChannels)) and out (\(g.outChannels)) channels")
        precondition(
            weight.shape[1] == g.inChannels / groups,
            "conv2d: weight \(weight.shape) expects \(weight.shape[1] * groups) input channels, input has \(g.inChannels)"
        )
        precondition(stride.0 > 0 && stride.1 > 0 && padding.0 >= 0 && padding.1 >= 0, "conv2d: bad stride/padding")
        precondition(
            g.outH > 0 && g.outW > 0, "conv2d: kernel \(g.kernelH)×\(g.kernelW) larger than padded input \(shape)")
        if let bias {
            precondition(bias.shape == [g.outChannels], "conv2d: bias \(bias.shape) for \(g.outChannels) channels")
        }
        // Named locals (not temporaries) so converted copies stay alive while their raw pointers are in use.
        let x = float(), w = weight.float(), b = bias?.float()
        let out = Tensor.uninitialized([g.batch, g.outChannels, g.outH, g.outW])
        if g.isDepthwise {
            depthwiseForward(x.storage.floats, w.storage.floats, b?.storage.floats, g, out.storage.floats)
        } else {
            gemmConvForward(x.storage.floats, w.storage.floats, b?.storage.floats, g, out.storage.floats)
        }
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        let xv = x.detached(), wv = w.detached()
        let needX = requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let hasBias = bias != nil
        return Tensor.record("conv2d", out, inputs: inputs) { gout in
            let gx = needX ? Tensor.zeros(xv.shape) : nil
            let gw = needW ? Tensor.zeros(wv.shape) : nil
            if g.isDepthwise {
                depthwiseBackward(
                    gout.storage.floats, xv.storage.floats, wv.storage.floats, g,
                    gx?.storage.floats, gw?.storage.floats)
            } else {
                gemmConvBackward(
                    gout.storage.floats, xv.storage.floats, wv.storage.floats, g,
                    gx?.storage.floats, gw?.storage.floats)
            }
            var grads: [Tensor?] = [gx, gw]
            if hasBias { grads.append(needB ? gout.sum(axes: [0, 2, 3]) : nil) }
            return grads
        }
    }
}

private func gemmConvForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ g: Conv2dGeometry, _ out: UnsafeMutablePointer<Float>
) {
    let cg = g.inChannels / g.groups, og = g.outChannels / g.groups
    let ohw = g.outH * g.outW, kk = cg * g.kernelH * g.kernelW
    let col = g.isPointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kk * ohw)
    defer { col?.deallocate() }
    for n in 0..<g.batch {
        for grp in 0..<g.groups {
            let xin = x + (n * g.inChannels + grp * cg) * g.height * g.width
            let dst = out + (n * g.outChannels + grp * og) * ohw
            var beta: Float = 0
            if let bias {
                for o in 0..<og { (dst + o * ohw).initialize(repeating: bias[grp * og + o], count: ohw) }
                beta = 1
            }
            let b: UnsafePointer<Float>
            if let col { im2col(xin, channels: cg, g, col); b = UnsafePointer(col) } else { b = xin }
            gemm(
                transA: false, transB: false, m: og, n: ohw, k: kk, a: w + grp * og * kk, lda: kk,
                b: b, ldb: ohw, beta: beta, c: dst, ldc: ohw)
        }
    }
}

private func gemmConvBackward(
    _ gout: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ g: Conv2dGeometry, _ gx: UnsafeMutablePointer<Float>?, _ gw: UnsafeMutablePointer<Float>?
) {
    let cg = g.inChannels / g.groups, og = g.outChannels / g.groups
    let ohw = g.outH * g.outW, kk = cg * g.kernelH * g.kernelW
    let col = UnsafeMutablePointer<Float>.allocate(capacity: kk * ohw)
    defer { col.deallocate() }
    for n in 0..<g.batch {
        for grp in 0..<g.groups {
            let xin = x + (n * g.inChannels + grp * cg) * g.height * g.width
            let go = gout + (n * g.outChannels + grp * og) * ohw
            if let gw {
                // dW[og, kk] += dY[og, ohw] · colᵀ
                let b: UnsafePointer<Float>
                if g.isPointwise { b = xin } else { im2col(xin, channels: cg, g, col); b = UnsafePointer(col) }
                gemm(
                    transA: false, transB: true, m: og, n: kk, k: ohw, a: go, lda: ohw, b: b, ldb: ohw,
                    beta: 1, c: gw + grp * og * kk, ldc: kk)
            }
            if let gx {
                // dcol[kk, ohw] = Wᵀ · dY, then fold back into the image.
                let gxin = gx + (n * g.inChannels + grp * cg) * g.height * g.width
                if g.isPointwise {
                    gemm(
                        transA: true, transB: false, m: kk, n: ohw, k: og, a: w + grp * og * kk, lda: kk,
                        b: go, ldb: ohw, beta: 1, c: gxin, ldc: ohw)
                } else {
                    gemm(
                        transA: true, transB: false, m: kk, n: ohw, k: og, a: w + grp * og * kk, lda: kk,
                        b: go, ldb: ohw, beta: 0, c: col, ldc: ohw)
                    col2im(col, channels: cg, g, gxin)
                }
            }
        }
    }
}

private func depthwiseForward(
    _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
    _ g: Conv2dGeometry, _ out: UnsafeMutablePointer<Float>
) {
    let mult = g.outChannels / g.inChannels  // output channels per input channel
    let oh = g.outH, ow = g.outW, h = g.height, wd = g.width, khw = g.kernelH * g.kernelW
    Parallel.forEachChunk(g.batch * g.outChannels, costPerItem: oh * ow * khw) { r in
        for plane in r {
            let n = plane / g.outChannels, oc = plane % g.outChannels, ic = oc / mult
            let src = x + (n * g.inChannels + ic) * h * wd, dst = out + plane * oh * ow
            if g.strideH == 1 && g.strideW == 1 {
                // ConvNeXt's 7×7 and the fusion's: register-blocked, AVX2 where available (CKernels).
                // A failed scratch allocation (−1) falls through to the plain loops below.
                if mg_depthwise_plane_f32(
                    src, Int32(h), Int32(wd), w + oc * khw, Int32(g.kernelH), Int32(g.kernelW),
                    Int32(g.padH), Int32(g.padW), bias?[oc] ?? 0, dst, Int32(oh), Int32(ow)) == 0
                {
                    continue
                }
            }
            dst.initialize(repeating: bias?[oc] ?? 0, count: oh * ow)
            for ky in 0..<g.kernelH {
                let rows = validRange(size: h, out: oh, stride: g.strideH, pad: g.padH, k: ky)
                for kx in 0..<g.kernelW {
                    let cols = validRange(size: wd, out: ow, stride: g.strideW, pad: g.padW, k: kx)
                    let wv = w[oc * khw + ky * g.kernelW + kx]
                    for oy in rows {
                        let srow = src + (oy * g.strideH - g.padH + ky) * wd - g.padW + kx
                        let drow = dst + oy * ow
                        for ox in cols { drow[ox] += wv * srow[ox * g.strideW] }
                    }
                }
            }
        }
    }
}

private func depthwiseBackward(
    _ gout: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
    _ g: Conv2dGeometry, _ gx: UnsafeMutablePointer<Float>?, _ gw: UnsafeMutablePointer<Float>?
) {
    let mult = g.outChannels / g.inChannels
    let oh = g.outH, ow = g.outW, h = g.height, wd = g.width, khw = g.kernelH * g.kernelW
    // Parallel over input channels: each owns its input-gradient plane and its weights' rows.
    Parallel.forEachChunk(g.inChannels, costPerItem: g.batch * mult * oh * ow * khw) { r in
        for ic in r {
            for n in 0..<g.batch {
                let src = x + (n * g.inChannels + ic) * h * wd
                let gsrc = gx.map { $0 + (n * g.inChannels + ic) * h * wd }
                for m in 0..<mult {
                    let oc = ic * mult + m
                    let go = gout + (n * g.outChannels + oc) * oh * ow
                    for ky in 0..<g.kernelH {
                        let rows = validRange(size: h, out: oh, stride: g.strideH, pad: g.padH, k: ky)
                        for kx in 0..<g.kernelW {
                            let cols = validRange(size: wd, out: ow, stride: g.strideW, pad: g.padW, k: kx)
                            let widx = oc * khw + ky * g.kernelW + kx
                            let wv = w[widx]
                            var acc: Float = 0
                            for oy in rows {
                                let off = (oy * g.strideH - g.padH + ky) * wd - g.padW + kx
                                let grow = go + oy * ow
                                for ox in cols {
                                    let ix = off + ox * g.strideW
                                    acc += grow[ox] * src[ix]
                                    gsrc?[ix] += wv * grow[ox]
                                }
                            }
                            gw?[widx] += acc
                        }
                    }
                }
            }
        }
    }
}
