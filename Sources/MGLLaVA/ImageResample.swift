import MGTensor

// Pillow's `Image.resize(size, Image.BICUBIC)` and `Image.BILINEAR` for 8-bit images, bit for bit
// (libImaging/Resample.c, `ImagingResample` — transformers' CLIP processor and torchvision's `Resize` on a PIL image
// pass no `reducing_gap`, so no `reduce()` pre-pass): separable, horizontal pass then vertical pass; per output
// index a window of source pixels weighted by the filter (bicubic: a = −0.5, support 2; bilinear: the triangle,
// support 1; the support widened by the scale when downsampling, which is Pillow's antialiasing), normalised to sum
// 1 in double, then rounded to fixed point with 22 fractional bits; each pass accumulates in 32-bit integers from a
// rounding bias of 2^21 and clips the result to 0…255. The intermediate image is 8-bit, as in Pillow.

/// Pillow's resampling filters (`Image.BILINEAR`, `Image.BICUBIC`).
public enum ResampleFilter: Sendable {
    case bilinear
    case bicubic

    /// The filter's support at scale 1.
    var support: Double {
        switch self {
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    /// Pillow's `bilinear_filter` / `bicubic_filter`.
    @inline(__always)
    func weight(_ value: Double) -> Double {
        switch self {
        case .bilinear:
            let x = value < 0 ? -value : value
            return x < 1 ? 1 - x : 0
        case .bicubic: return ResampleAxis.bicubic(value)
        }
    }
}

/// One axis of Pillow's resampling: for each output index, the first source index, the number of taps, and the
/// fixed-point weights (`precompute_coeffs` + `normalize_coeffs_8bpc`).
struct ResampleAxis {
    static let precisionBits = 22  // 32 − 8 − 2: 8 bits of result, 2 bits of headroom for overshoot

    let outSize: Int
    /// Taps per output index (the stride of `weights`).
    let kernelSize: Int
    var first: [Int]
    var count: [Int]
    var weights: [Int32]

    /// Coefficients for resizing `inSize` samples to `outSize` over the whole input (Pillow's default box).
    init(inSize: Int, outSize: Int, filter: ResampleFilter = .bicubic) {
        self.outSize = outSize
        // Pillow computes the box extent in float, then the scale in double.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterScale = Swift.max(scale, 1.0)
        let support = filter.support * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        self.kernelSize = kernelSize
        first = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Int32](repeating: 0, count: outSize * kernelSize)
        var taps = [Double](repeating: 0, count: kernelSize)
        let inverseScale = 1.0 / filterScale
        for xx in 0..<outSize {
            let center = 0.0 + (Double(xx) + 0.5) * scale
            // C casts truncate toward zero; Swift's Int(Double) does too.
            let xmin = Swift.max(Int(center - support + 0.5), 0)
            let xmax = Swift.min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * inverseScale)
                taps[x] = w
                total += w
            }
            for x in 0..<xmax {
                let normalised = total != 0 ? taps[x] / total : taps[x]
                let fixed = normalised * Double(1 << ResampleAxis.precisionBits)
                weights[xx * kernelSize + x] = Int32(normalised < 0 ? -0.5 + fixed : 0.5 + fixed)
            }
            first[xx] = xmin
            count[xx] = Swift.max(xmax, 0)
        }
    }

    /// Pillow's `bicubic_filter` (Keys kernel, a = −0.5), with its evaluation order.
    @inline(__always)
    static func bicubic(_ value: Double) -> Double {
        let a = -0.5
        let x = value < 0 ? -value : value
        if x < 1 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Source rows [lowerBound, upperBound) that the taps read (Pillow's `ybox_first`, `ybox_last`).
    var sourceRange: Range<Int> {
        guard outSize > 0 else { return 0..<0 }
        return first[0]..<(first[outSize - 1] + count[outSize - 1])
    }
}

/// Fixed-point accumulator → 8-bit sample (Pillow's `clip8`).
@inline(__always)
private func clip8(_ accumulator: Int32) -> UInt8 {
    UInt8(clamping: accumulator >> Int32(ResampleAxis.precisionBits))
}

extension RGBImage {
    /// Pillow's bicubic `resize((width, height))`, bit for bit. Returns `self` when the size is unchanged (Pillow
    /// copies the image without resampling).
    public func resizedBicubic(width outWidth: Int, height outHeight: Int) -> RGBImage {
        resized(width: outWidth, height: outHeight, filter: .bicubic)
    }

    /// Pillow's `resize((width, height), filter)`, bit for bit. Returns `self` when the size is unchanged (Pillow
    /// copies the image without resampling).
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0, "resized: target \(outWidth)×\(outHeight)")
        precondition(width > 0 && height > 0, "resized: empty source image")
        if outWidth == width && outHeight == height { return self }

        let vertical = ResampleAxis(inSize: height, outSize: outHeight, filter: filter)
        var horizontalResult = self
        var rowOffset = 0
        if outWidth != width {
            let rows = vertical.sourceRange
            horizontalResult = resampledHorizontally(
                rows: rows, axis: ResampleAxis(inSize: width, outSize: outWidth, filter: filter))
            rowOffset = rows.lowerBound
        }
        guard outHeight != height else { return horizontalResult }
        return horizontalResult.resampledVertically(axis: vertical, rowOffset: rowOffset)
    }

    /// Horizontal pass over source rows `rows` (Pillow's `ImagingResampleHorizontal_8bpc`).
    private func resampledHorizontally(rows: Range<Int>, axis: ResampleAxis) -> RGBImage {
        let outWidth = axis.outSize, outHeight = rows.count, inWidth = width
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        let bias = Int32(1) << Int32(ResampleAxis.precisionBits - 1)
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                axis.first.withUnsafeBufferPointer { first in
                    axis.count.withUnsafeBufferPointer { count in
                        axis.weights.withUnsafeBufferPointer { weights in
                            guard let src = srcBuffer.baseAddress, let dst = dstBuffer.baseAddress,
                                let k = weights.baseAddress
                            else { return }
                            let kernelSize = axis.kernelSize
                            Parallel.forEachChunk(outHeight, costPerItem: outWidth * kernelSize * 3) { range in
                                for yy in range {
                                    let srcRow = src + (yy + rows.lowerBound) * inWidth * 3
                                    let dstRow = dst + yy * outWidth * 3
                                    for xx in 0..<outWidth {
                                        let taps = k + xx * kernelSize
                                        let p = srcRow + first[xx] * 3
                                        var r = bias, g = bias, b = bias
                                        for j in 0..<count[xx] {
                                            let w = taps[j]
                                            r &+= Int32(p[3 * j]) &* w
                                            g &+= Int32(p[3 * j + 1]) &* w
                                            b &+= Int32(p[3 * j + 2]) &* w
                                        }
                                        dstRow[3 * xx] = clip8(r)
                                        dstRow[3 * xx + 1] = clip8(g)
                                        dstRow[3 * xx + 2] = clip8(b)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }

    /// Vertical pass (Pillow's `ImagingResampleVertical_8bpc`); `rowOffset` is the first source row the
    /// horizontal pass kept. Channels are independent, so each output row is a weighted sum of whole source rows.
    private func resampledVertically(axis: ResampleAxis, rowOffset: Int) -> RGBImage {
        let outHeight = axis.outSize, rowLength = width * 3
        var out = [UInt8](repeating: 0, count: rowLength * outHeight)
        let bias = Int32(1) << Int32(ResampleAxis.precisionBits - 1)
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                axis.first.withUnsafeBufferPointer { first in
                    axis.count.withUnsafeBufferPointer { count in
                        axis.weights.withUnsafeBufferPointer { weights in
                            guard let src = srcBuffer.baseAddress, let dst = dstBuffer.baseAddress,
                                let k = weights.baseAddress
                            else { return }
                            let kernelSize = axis.kernelSize
                            Parallel.forEachChunk(outHeight, costPerItem: rowLength * kernelSize) { range in
                                let sums = UnsafeMutablePointer<Int32>.allocate(capacity: rowLength)
                                defer { sums.deallocate() }
                                for yy in range {
                                    sums.update(repeating: bias, count: rowLength)
                                    let taps = k + yy * kernelSize
                                    for j in 0..<count[yy] {
                                        let w = taps[j]
                                        let srcRow = src + (first[yy] - rowOffset + j) * rowLength
                                        for c in 0..<rowLength { sums[c] &+= Int32(srcRow[c]) &* w }
                                    }
                                    let dstRow = dst + yy * rowLength
                                    for c in 0..<rowLength { dstRow[c] = clip8(sums[c]) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: outHeight, pixels: out)
    }
}
