import Dispatch
import Foundation
import MGJSON
import MGNN

// OWLv2's image preprocessing, transformers 4.44.2's numpy `Owlv2ImageProcessor.preprocess` step for step:
// rescale (uint8 → float64 × factor → float32), pad bottom/right to a square with 0.5, resize (scipy.ndimage
// `gaussian_filter` anti-aliasing, then `zoom(order=1, mode="mirror", grid_mode=True)`, then the clip to the
// input's range), normalize with float32 mean/std. Every arithmetic step runs in the precision and order scipy's
// C code uses (double accumulation, float32 stores between passes), so results match upstream to the float32 ulp.

/// The `size` of an OWLv2 `preprocessor_config.json`: the height and width images are resized to (960 × 960 for
/// the base models, 1008 × 1008 for the large one).
public struct OWLv2ImageSize: Sendable, Equatable, Codable {
    /// Output rows.
    public var height: Int
    /// Output columns.
    public var width: Int

    /// A size of `height` × `width` pixels.
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    enum CodingKeys: String, CodingKey { case height, width }

    /// Decodes `{"height": H, "width": W}`; both are required positive integers (upstream indexes them directly).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        height = try c.decodeInteger(forKey: .height)
        width = try c.decodeInteger(forKey: .width)
        for (key, value) in [(CodingKeys.height, height), (.width, width)] where value <= 0 {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "must be a positive integer, found \(value)")
        }
    }
}

/// An OWLv2 `preprocessor_config.json`, read as `Owlv2ImageProcessor.__init__` reads it: absent fields take
/// upstream's defaults (rescale by 1/255, pad, resize to 960 × 960, normalize with OpenAI CLIP's mean and std),
/// unknown fields (`image_processor_type`, `processor_class`) are ignored.
public struct OWLv2ImageProcessorConfiguration: Sendable, Equatable, Codable {
    /// OpenAI CLIP's per-channel mean (`OPENAI_CLIP_MEAN`), upstream's default `image_mean`.
    public static let openAICLIPMean: [Double] = [0.48145466, 0.4578275, 0.40821073]
    /// OpenAI CLIP's per-channel standard deviation (`OPENAI_CLIP_STD`), upstream's default `image_std`.
    public static let openAICLIPStd: [Double] = [0.26862954, 0.26130258, 0.27577711]

    /// Multiply the 8-bit pixels by `rescaleFactor` (must be true: see `init(from:)`).
    public var doRescale: Bool
    /// The rescale multiplier, 1/255 in every published config.
    public var rescaleFactor: Double
    /// Pad the bottom and right to a square of side max(height, width) with 0.5.
    public var doPad: Bool
    /// Resize to `size` (Gaussian anti-aliasing, then linear interpolation).
    public var doResize: Bool
    /// The resize target.
    public var size: OWLv2ImageSize
    /// PIL resampling code (2, bilinear). Read and kept for round-tripping; upstream's `resize` ignores it.
    public var resample: Int
    /// Subtract `imageMean` and divide by `imageStd`, per channel.
    public var doNormalize: Bool
    /// Per-channel mean, R, G, B (a single number in the file is broadcast to the three channels).
    public var imageMean: [Double]
    /// Per-channel standard deviation, R, G, B (a single number is broadcast).
    public var imageStd: [Double]

    /// A configuration; the defaults are upstream's and the base model's (`google/owlv2-base-patch16-ensemble`).
    public init(
        doRescale: Bool = true, rescaleFactor: Double = 1.0 / 255.0, doPad: Bool = true, doResize: Bool = true,
        size: OWLv2ImageSize = OWLv2ImageSize(height: 960, width: 960), resample: Int = 2, doNormalize: Bool = true,
        imageMean: [Double] = openAICLIPMean, imageStd: [Double] = openAICLIPStd
    ) {
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doPad = doPad
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
    }

    /// Reads a `preprocessor_config.json` (a model folder's, or the file itself). Errors are `ConfigError`s naming
    /// the file, the key and the value found.
    public static func load(_ url: URL) throws -> OWLv2ImageProcessorConfiguration {
        try ConfigFile.decode(Self.self, from: ConfigFile.resolve(url, defaultName: "preprocessor_config.json"))
    }

    /// `load(_:)` for the file's text, errors naming `path` as the file.
    public static func decode(_ data: Data, path: String) throws -> OWLv2ImageProcessorConfiguration {
        try ConfigFile.decode(Self.self, from: data, path: path)
    }

    enum CodingKeys: String, CodingKey {
        case doRescale = "do_rescale", rescaleFactor = "rescale_factor", doPad = "do_pad", doResize = "do_resize"
        case size, resample, doNormalize = "do_normalize", imageMean = "image_mean", imageStd = "image_std"
    }

    /// Decodes the snake_case fields, validating what the processor relies on: a positive finite rescale factor,
    /// `size` with positive `height` and `width`, three (or one, broadcast) finite means and non-zero stds.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = OWLv2ImageProcessorConfiguration()
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? defaults.doRescale
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? defaults.rescaleFactor
        doPad = try c.decodeIfPresent(Bool.self, forKey: .doPad) ?? defaults.doPad
        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? defaults.doResize
        size = try c.decodeIfPresent(OWLv2ImageSize.self, forKey: .size) ?? defaults.size
        resample = try c.decodeIntegerIfPresent(forKey: .resample) ?? defaults.resample
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? defaults.doNormalize
        imageMean = try Self.channelValues(c, .imageMean) ?? defaults.imageMean
        imageStd = try Self.channelValues(c, .imageStd) ?? defaults.imageStd
        // Without rescaling upstream keeps the uint8 array through np.pad (0.5 becomes 0) and scipy's filters
        // round into uint8: a different pipeline that no OWLv2 checkpoint uses, so it is refused, not imitated.
        if !doRescale {
            throw DecodingError.dataCorruptedError(
                forKey: .doRescale, in: c,
                debugDescription: "false is not supported (OWLv2 checkpoints are trained on rescaled pixels)")
        }
        if !(rescaleFactor.isFinite && rescaleFactor > 0) {
            throw DecodingError.dataCorruptedError(
                forKey: .rescaleFactor, in: c, debugDescription: "must be a positive number, found \(rescaleFactor)")
        }
        if !(0...5).contains(resample) {
            throw DecodingError.dataCorruptedError(
                forKey: .resample, in: c, debugDescription: "must be a PIL resampling code 0…5, found \(resample)")
        }
        for (index, value) in imageMean.enumerated() where !value.isFinite {
            throw DecodingError.dataCorruptedError(
                forKey: .imageMean, in: c, debugDescription: "entry \(index) must be finite, found \(value)")
        }
        for (index, value) in imageStd.enumerated() where !(value.isFinite && value != 0) {
            throw DecodingError.dataCorruptedError(
                forKey: .imageStd, in: c,
                debugDescription: "entry \(index) must be a finite non-zero number, found \(value)")
        }
    }

    /// A per-channel list: three numbers, or one number for all three (as upstream's `normalize` accepts).
    private static func channelValues(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> [Double]? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let single = try? c.decode(Double.self, forKey: key) { return [single, single, single] }
        let values = try c.decode([Double].self, forKey: key)
        guard values.count == 3 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "expected 3 values (R, G, B), found \(values.count)")
        }
        return values
    }
}

/// A user-input error from `OWLv2ImageProcessor.preprocess`: names the argument and the value that was wrong.
public struct OWLv2ImageError: Error, Equatable, CustomStringConvertible {
    /// The argument at fault (`width`, `height`, `rgb`).
    public var field: String
    /// What was wrong, with the value found.
    public var reason: String

    /// An error about `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `OWLv2 image: 'field': reason`.
    public var description: String { "OWLv2 image: '\(field)': \(reason)" }
}

/// One preprocessed image and the geometry post-processing needs.
public struct OWLv2PreprocessedImage: @unchecked Sendable {
    /// Normalized pixels, channels-first: [1, 3, size.height, size.width] float32 (the padded image's own size
    /// when resizing is off).
    public var pixelValues: Tensor
    /// The original image's width in pixels.
    public var width: Int
    /// The original image's height in pixels.
    public var height: Int
    /// max(width, height): the side of the padded square. The model's boxes are normalized to this square (the
    /// padding included), so post-processing scales them by it, not by the original width and height.
    public var paddedSide: Int
}

/// transformers 4.44.2's numpy `Owlv2ImageProcessor`, exactly: 8-bit RGB in, normalized float32 pixels out.
///
/// Steps (shapes for a W × H input and side S = max(W, H)):
/// 1. rescale: `Float(Double(byte) × rescaleFactor)` ([H, W, 3]);
/// 2. pad: bottom and right with 0.5 to [S, S, 3];
/// 3. resize to [h, w, 3] = `size`: per axis factor f = S/h (S/w), Gaussian with σ = max(0, (f − 1)/2) (scipy
///    `gaussian_filter`, mode mirror, truncate 4), then scipy `zoom` by 1/f with order 1, mode mirror,
///    grid_mode, then clipped to the padded image's min/max;
/// 4. normalize: `(x − mean) / std` in float32, output [1, 3, h, w].
///
/// Upstream infers the array layout from its shape, so it scrambles images 1 or 3 pixels tall (or whose padded
/// side is 1 or 3); here the input is always interleaved RGB.
public struct OWLv2ImageProcessor: Sendable {
    /// The `preprocessor_config.json` this processor follows.
    public let configuration: OWLv2ImageProcessorConfiguration

    /// A processor for `configuration` (validated when it was decoded; values set in code are checked by
    /// `preprocess`).
    public init(configuration: OWLv2ImageProcessorConfiguration = OWLv2ImageProcessorConfiguration()) {
        self.configuration = configuration
    }

    /// A processor for a model folder's (or the file's own) `preprocessor_config.json`.
    public static func load(_ url: URL) throws -> OWLv2ImageProcessor {
        OWLv2ImageProcessor(configuration: try OWLv2ImageProcessorConfiguration.load(url))
    }

    /// The side of the padded square for a `width` × `height` image: max(width, height).
    public static func paddedSide(width: Int, height: Int) -> Int { max(width, height) }

    /// Preprocesses one image: `rgb` holds `width × height × 3` bytes, rows top to bottom, each pixel R, G, B (what
    /// PIL's `Image.open(f).convert('RGB')` gives). Throws `OWLv2ImageError` for an empty image, a byte count that
    /// does not match, or sizes too large to address; `ConfigError`-like problems in a hand-built configuration are
    /// reported as `OWLv2ImageError`s naming the configuration field.
    public func preprocess(rgb: [UInt8], width: Int, height: Int) throws -> OWLv2PreprocessedImage {
        try validate(width: width, height: height, byteCount: rgb.count)
        let config = configuration

        // 1. rescale, 2. pad: [H, W, 3] bytes → [ph, pw, 3] float32, pad value 0.5 (upstream's `pad` passes
        // constant_values=0.5, exact in float32).
        let side = Self.paddedSide(width: width, height: height)
        let (ph, pw) = config.doPad ? (side, side) : (height, width)
        var image = [Float](repeating: 0.5, count: ph * pw * 3)
        let factor = config.rescaleFactor
        image.withUnsafeMutableBufferPointer { dst in
            rgb.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let s = y * width * 3, d = y * pw * 3
                    for i in 0..<(width * 3) { dst[d + i] = Float(Double(src[s + i]) * factor) }
                }
            }
        }

        // 3. resize.
        var (oh, ow) = (ph, pw)
        if config.doResize {
            (image, oh, ow) = Self.resize(image, height: ph, width: pw, to: config.size)
        }

        // 4. normalize (float32 mean/std, as `np.array(mean, dtype=image.dtype)`), and channels-first:
        // [oh, ow, 3] → [1, 3, oh, ow].
        let plane = oh * ow
        let out = Tensor.uninitialized([1, 3, oh, ow])
        let o = out.storage.floats
        let mean = config.doNormalize ? config.imageMean.map { Float($0) } : [0, 0, 0]
        let std = config.doNormalize ? config.imageStd.map { Float($0) } : [1, 1, 1]
        image.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                let m = mean[c], s = std[c]
                let dst = o + c * plane
                if config.doNormalize {
                    for i in 0..<plane { dst[i] = (src[i * 3 + c] - m) / s }
                } else {
                    for i in 0..<plane { dst[i] = src[i * 3 + c] }
                }
            }
        }
        return OWLv2PreprocessedImage(pixelValues: out, width: width, height: height, paddedSide: side)
    }

    /// Checks the caller's sizes and the configuration's values before anything is allocated.
    private func validate(width: Int, height: Int, byteCount: Int) throws {
        guard width > 0 else { throw OWLv2ImageError(field: "width", reason: "must be positive, found \(width)") }
        guard height > 0 else { throw OWLv2ImageError(field: "height", reason: "must be positive, found \(height)") }
        // 2^15 per side keeps every product below (2^15)² × 3 elements, far from Int overflow, and beyond any
        // photo (upstream would need tens of GiB for it).
        let limit = 1 << 15
        guard width <= limit else {
            throw OWLv2ImageError(field: "width", reason: "must be at most \(limit), found \(width)")
        }
        guard height <= limit else {
            throw OWLv2ImageError(field: "height", reason: "must be at most \(limit), found \(height)")
        }
        guard byteCount == width * height * 3 else {
            throw OWLv2ImageError(
                field: "rgb",
                reason: "expected \(width) × \(height) × 3 = \(width * height * 3) bytes, found \(byteCount)")
        }
        let config = configuration
        if !config.doRescale {
            throw OWLv2ImageError(field: "do_rescale", reason: "false is not supported")
        }
        if !(config.rescaleFactor.isFinite && config.rescaleFactor > 0) {
            throw OWLv2ImageError(field: "rescale_factor", reason: "must be positive, found \(config.rescaleFactor)")
        }
        if config.doResize {
            let s = config.size
            guard s.height > 0, s.width > 0, s.height <= limit, s.width <= limit else {
                throw OWLv2ImageError(
                    field: "size", reason: "must be 1…\(limit) per side, found \(s.height)×\(s.width)")
            }
        }
        if config.doNormalize {
            guard config.imageMean.count == 3, config.imageStd.count == 3 else {
                throw OWLv2ImageError(
                    field: "image_mean/image_std",
                    reason: "expected 3 values each, found \(config.imageMean.count) and \(config.imageStd.count)")
            }
        }
    }

    // MARK: - Resize (Owlv2ImageProcessor.resize: gaussian_filter, zoom, clip)

    /// Upstream's `resize` on a channels-last float32 image [height, width, 3]: returns [oh, ow, 3] and its size.
    static func resize(
        _ image: [Float], height: Int, width: Int, to size: OWLv2ImageSize
    ) -> (image: [Float], height: Int, width: Int) {
        // factors = np.divide(input_shape, output_shape) in float64; the channel factor is 1 (σ 0, zoom 1).
        let fy = Double(height) / Double(size.height), fx = Double(width) / Double(size.width)
        // zoom's output shape: int(round(in × (1/f))), Python's round (half to even).
        let zy = 1.0 / fy, zx = 1.0 / fx
        let oh = Int((Double(height) * zy).rounded(.toNearestOrEven))
        let ow = Int((Double(width) * zx).rounded(.toNearestOrEven))

        // The clip bounds: min and max of the resize input (the padded image), `_clip_warp_output`.
        var lo = Float.infinity, hi = -Float.infinity
        for v in image {
            lo = min(lo, v)
            hi = max(hi, v)
        }

        // gaussian_filter: axes with σ > 1e-15 in order (rows, then columns), float32 stored after each.
        var filtered = image
        let sigmaY = max(0, (fy - 1) / 2), sigmaX = max(0, (fx - 1) / 2)
        if sigmaY > 1e-15 {
            filtered = gaussianRows(filtered, height: height, width: width, weights: gaussianKernel(sigma: sigmaY))
        }
        if sigmaX > 1e-15 {
            gaussianColumns(&filtered, height: height, width: width, weights: gaussianKernel(sigma: sigmaX))
        }

        // zoom: scipy returns the input unchanged when every zoom factor is 1 (then the clip is the identity too).
        if zy == 1 && zx == 1 { return (filtered, height, width) }
        var out = zoomLinear(filtered, height: height, width: width, outHeight: oh, outWidth: ow)
        for i in out.indices { out[i] = min(max(out[i], lo), hi) }
        return (out, oh, ow)
    }

    /// `scipy.ndimage._filters._gaussian_kernel1d(σ, 0, radius)` with radius `int(4σ + 0.5)`: exp(−0.5/σ² · x²)
    /// for x in −r…r, divided by its numpy (pairwise) sum. Returns the half kernel w[0…r] (it is symmetric).
    static func gaussianKernel(sigma: Double) -> [Double] {
        let radius = Int(4.0 * sigma + 0.5)
        let scale = -0.5 / (sigma * sigma)
        let phi = (-radius...radius).map { x in exp(scale * Double(x * x)) }
        let sum = phi.withUnsafeBufferPointer { pairwiseSum($0[...]) }
        return (0...radius).map { phi[radius + $0] / sum }
    }

    /// numpy's float64 `pairwise_sum` (what `ndarray.sum` uses on a contiguous 1-D array): sequential under 8,
    /// eight accumulators up to 128, halves (rounded to a multiple of 8) above.
    static func pairwiseSum(_ a: Slice<UnsafeBufferPointer<Double>>) -> Double {
        let n = a.count, s = a.startIndex
        if n < 8 {
            var res = -0.0
            for i in 0..<n { res += a[s + i] }
            return res
        } else if n <= 128 {
            var r = (0..<8).map { a[s + $0] }
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[s + i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n {
                res += a[s + i]
                i += 1
            }
            return res
        } else {
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwiseSum(a[s..<(s + n2)]) + pairwiseSum(a[(s + n2)...])
        }
    }

    /// scipy's "mirror" extension of index `i` on a line of `n` (periodic reflection about the end samples,
    /// period 2(n − 1), as `NI_ExtendLine` fills its buffer).
    @inline(__always)
    static func mirror(_ i: Int, _ n: Int) -> Int {
        if n <= 1 { return 0 }
        let period = 2 * (n - 1)
        var k = i % period
        if k < 0 { k += period }
        return k < n ? k : period - k
    }

    /// Rows processed in parallel chunks (each row's work is independent); small images stay on one thread.
    static func forEachRowChunk(rows: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let threads = work < 1 << 18 ? 1 : max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8, rows))
        if threads == 1 {
            body(0..<rows)
            return
        }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            body((rows * t / threads)..<(rows * (t + 1) / threads))
        }
    }

    /// `correlate1d` along axis 0 (down the columns) of [height, width, 3], symmetric kernel `w` (half, w[0] the
    /// centre): out[y] = in[y]·w0, then += (in[y − j] + in[y + j])·wj for j = r…1 (NI_Correlate1D's symmetric
    /// branch, its order), in double, stored as float32. Whole rows at a time, so every access is contiguous.
    static func gaussianRows(_ input: [Float], height: Int, width: Int, weights w: [Double]) -> [Float] {
        let r = w.count - 1, rowLength = width * 3
        var output = [Float](repeating: 0, count: input.count)
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                let src = src.baseAddress!, dst = dst.baseAddress!
                forEachRowChunk(rows: height, work: input.count * (r + 1)) { rows in
                    let acc = UnsafeMutablePointer<Double>.allocate(capacity: rowLength)
                    defer { acc.deallocate() }
                    for y in rows {
                        let centre = src + y * rowLength
                        for i in 0..<rowLength { acc[i] = Double(centre[i]) * w[0] }
                        var j = r
                        while j >= 1 {
                            let a = src + mirror(y - j, height) * rowLength
                            let b = src + mirror(y + j, height) * rowLength
                            let wj = w[j]
                            for i in 0..<rowLength { acc[i] += (Double(a[i]) + Double(b[i])) * wj }
                            j -= 1
                        }
                        let out = dst + y * rowLength
                        for i in 0..<rowLength { out[i] = Float(acc[i]) }
                    }
                }
            }
        }
        return output
    }

    /// `correlate1d` along axis 1 (along each row) of [height, width, 3], in place: each row is copied into a
    /// mirror-extended double buffer [width + 2r, 3] first, then filtered as `gaussianRows` does.
    static func gaussianColumns(_ image: inout [Float], height: Int, width: Int, weights w: [Double]) {
        let r = w.count - 1, rowLength = width * 3
        let work = image.count * (r + 1)
        image.withUnsafeMutableBufferPointer { buffer in
            let data = buffer.baseAddress!
            forEachRowChunk(rows: height, work: work) { rows in
                let extended = UnsafeMutablePointer<Double>.allocate(capacity: (width + 2 * r) * 3)
                let acc = UnsafeMutablePointer<Double>.allocate(capacity: rowLength)
                defer {
                    extended.deallocate()
                    acc.deallocate()
                }
                for y in rows {
                    let row = data + y * width * 3
                    for x in 0..<(width + 2 * r) {
                        let s = row + mirror(x - r, width) * 3
                        extended[x * 3] = Double(s[0])
                        extended[x * 3 + 1] = Double(s[1])
                        extended[x * 3 + 2] = Double(s[2])
                    }
                    // Interleaved channels filter together: element i of the row sits at extended[3r + i], its
                    // neighbours j pixels away at ±3j; each element's sum keeps NI_Correlate1D's order.
                    let centre = extended + 3 * r
                    for i in 0..<rowLength { acc[i] = centre[i] * w[0] }
                    var j = r
                    while j >= 1 {
                        let a = centre - 3 * j, b = centre + 3 * j, wj = w[j]
                        for i in 0..<rowLength { acc[i] += (a[i] + b[i]) * wj }
                        j -= 1
                    }
                    for i in 0..<rowLength { row[i] = Float(acc[i]) }
                }
            }
        }
    }

    /// scipy's `map_coordinate` for mode mirror: folds a coordinate outside [0, n − 1] back in (a coordinate in
    /// (n − 1, n) is left as it is, as scipy does; its upper neighbour is then mirrored).
    static func mapMirror(_ x: Double, _ n: Int) -> Double {
        var v = x
        if v < 0 {
            if n <= 1 { return 0 }
            let period = 2 * n - 2
            v = Double(period * Int(-v / Double(period))) + v
            v = v <= Double(1 - n) ? v + Double(period) : -v
        } else if v > Double(n - 1) {
            if n <= 1 { return 0 }
            let period = 2 * n - 2
            v -= Double(period * Int(v / Double(period)))
            if v >= Double(n) { v = Double(period) - v }
        }
        return v
    }

    /// One output coordinate's two source indices and weights along an axis (NI_ZoomShift with order 1,
    /// grid_mode, mode mirror): cc = (k + 0.5)·zoom − 0.5, mirrored; start = ⌊cc⌋; w0 = 1 − (cc − ⌊cc⌋),
    /// w1 = 1 − w0; neighbours outside the axis mirrored.
    struct Tap {
        var i0: Int, i1: Int, w0: Double, w1: Double
    }

    static func taps(input n: Int, output m: Int) -> [Tap] {
        // zoom_shift's zoom: input.shape / output_shape in float64 (grid_mode).
        let zoom = Double(n) / Double(m)
        return (0..<m).map { k in
            var cc = Double(k)
            cc += 0.5
            cc *= zoom
            cc -= 0.5
            cc = mapMirror(cc, n)
            let start = Int(cc.rounded(.down))
            func index(_ i: Int) -> Int {
                i >= 0 && i < n ? i : Int(mapMirror(Double(i), n))
            }
            let fraction = cc - cc.rounded(.down)
            let w0 = 1.0 - fraction
            return Tap(i0: index(start), i1: index(start + 1), w0: w0, w1: 1.0 - w0)
        }
    }

    /// `zoom(order=1, mode="mirror", grid_mode=True)` of [height, width, 3] to [oh, ow, 3]: per pixel and channel
    /// t = Σ v·wy·wx over (y0, x0), (y0, x1), (y1, x0), (y1, x1) in double, in that order and association
    /// (the channel axis contributes weights 1 and 0, which change nothing), stored as float32.
    static func zoomLinear(_ input: [Float], height: Int, width: Int, outHeight oh: Int, outWidth ow: Int) -> [Float] {
        let ty = taps(input: height, output: oh), tx = taps(input: width, output: ow)
        var output = [Float](repeating: 0, count: oh * ow * 3)
        input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                let src = src.baseAddress!, dst = dst.baseAddress!
                forEachRowChunk(rows: oh, work: oh * ow * 12) { rows in
                    for i in rows {
                        let yt = ty[i]
                        let row0 = src + yt.i0 * width * 3, row1 = src + yt.i1 * width * 3
                        for j in 0..<ow {
                            let xt = tx[j]
                            let a0 = xt.i0 * 3, a1 = xt.i1 * 3
                            for c in 0..<3 {
                                var t = Double(row0[a0 + c]) * yt.w0 * xt.w0
                                t += Double(row0[a1 + c]) * yt.w0 * xt.w1
                                t += Double(row1[a0 + c]) * yt.w1 * xt.w0
                                t += Double(row1[a1 + c]) * yt.w1 * xt.w1
                                dst[(i * ow + j) * 3 + c] = Float(t)
                            }
                        }
                    }
                }
            }
        }
        return output
    }
}
