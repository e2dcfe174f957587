import MGTensor

/// MG-LLaVA's image preprocessing (SPEC §4.3), identical for training, evaluation and inference:
/// 1. `expand2square`: pad to a square canvas of side max(W, H) filled with the CLIP mean colour
///    (`int(255 · mean)` = (122, 116, 104)), the image centred on the short axis (offset floor((long − short)/2));
/// 2. transformers' (slow, PIL) `CLIPImageProcessor` re-configured to `shortest_edge = crop = auxSize`: Pillow
///    bicubic resize of the short side to `auxSize`, centre crop `auxSize`, ×1/255 in float64 cast to float32,
///    (x − mean)/std in float32 → `pixelValuesAux` [3, aux, aux] (fed to ConvNeXt);
/// 3. `pixelValues` = bilinear (`align_corners=False`, no antialias) resize of `pixelValuesAux` to
///    [3, clip, clip] (fed to CLIP) — the low-resolution input is derived from the high-resolution tensor.
public struct ImageProcessor: Sendable {
    /// OpenAI CLIP statistics (also used for ConvNeXt), as Python floats.
    public static let openAIMean: [Double] = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd: [Double] = [0.26862954, 0.26130258, 0.27577711]

    /// Side of `pixelValuesAux` (768 in every MG-LLaVA config).
    public var auxSize: Int
    /// Side of `pixelValues` (336 for CLIP ViT-L/14-336).
    public var clipSize: Int
    /// `pad_image_to_square` (true in every MG-LLaVA config).
    public var padToSquare: Bool
    public var mean: [Double]
    public var std: [Double]

    public init(
        auxSize: Int = 768, clipSize: Int = 336, padToSquare: Bool = true,
        mean: [Double] = ImageProcessor.openAIMean, std: [Double] = ImageProcessor.openAIStd
    ) {
        precondition(auxSize > 0 && clipSize > 0, "ImageProcessor: sizes must be positive")
        precondition(mean.count == 3 && std.count == 3, "ImageProcessor: mean and std need 3 channels")
        self.auxSize = auxSize
        self.clipSize = clipSize
        self.padToSquare = padToSquare
        self.mean = mean
        self.std = std
    }

    /// The padding colour: `tuple(int(x * 255) for x in image_mean)` (Python float product, truncated).
    public var padColor: RGBColor {
        let c = mean.map { UInt8(clamping: Int($0 * 255)) }
        return RGBColor(red: c[0], green: c[1], blue: c[2])
    }

    /// Runs the whole pipeline on a decoded image.
    public func process(_ image: RGBImage) -> ProcessedImage {
        let framed = padToSquare ? expandToSquare(image).image : image
        let aux = normalize(resizeAndCrop(framed))
        let clip = aux.reshaped([1, 3, auxSize, auxSize])
            .interpolateBilinear(height: clipSize, width: clipSize, alignCorners: false)
            .reshaped([3, clipSize, clipSize])
        return ProcessedImage(
            pixelValuesAux: aux, pixelValues: clip,
            originalWidth: image.width, originalHeight: image.height,
            frameWidth: framed.width, frameHeight: framed.height)
    }

    /// LLaVA's `expand2square`: the padded image and where the original's top-left corner landed.
    public func expandToSquare(_ image: RGBImage) -> (image: RGBImage, offsetX: Int, offsetY: Int) {
        let w = image.width, h = image.height
        if w == h { return (image, 0, 0) }
        let side = Swift.max(w, h)
        let offsetX = w > h ? 0 : (h - w) / 2, offsetY = w > h ? (w - h) / 2 : 0
        var canvas = RGBImage(width: side, height: side, fill: padColor)
        canvas.pixels.withUnsafeMutableBufferPointer { dst in
            image.pixels.withUnsafeBufferPointer { src in
                guard let d = dst.baseAddress, let s = src.baseAddress else { return }
                for y in 0..<h {
                    (d + ((y + offsetY) * side + offsetX) * 3).update(from: s + y * w * 3, count: w * 3)
                }
            }
        }
        return (canvas, offsetX, offsetY)
    }

    /// The CLIP processor's resize (short side → `auxSize`, long side `int(aux · long / short)`) and centre
    /// crop to `auxSize` × `auxSize`, on 8-bit pixels.
    public func resizeAndCrop(_ image: RGBImage) -> RGBImage {
        let size = ImageProcessor.shortestEdgeSize(width: image.width, height: image.height, shortestEdge: auxSize)
        let resized = image.resizedBicubic(width: size.width, height: size.height)
        return ImageProcessor.centerCrop(resized, width: auxSize, height: auxSize)
    }

    /// transformers' `get_resize_output_image_size(default_to_square=False)`: (width, height).
    public static func shortestEdgeSize(width: Int, height: Int, shortestEdge: Int) -> (width: Int, height: Int) {
        let short = Swift.min(width, height), long = Swift.max(width, height)
        // Python: int(size * long / short) — a true division of ints, truncated.
        let newLong = Int(Double(shortestEdge * long) / Double(short))
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
    }

    /// transformers' `center_crop`: top = floor((H − h)/2), left likewise; a crop larger than the image pads
    /// it with zeros first (ceil of half the excess before), as transformers does.
    public static func centerCrop(_ image: RGBImage, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        let h = image.height, w = image.width
        var top = floorDivide(h - cropHeight, 2), left = floorDivide(w - cropWidth, 2)
        if top == 0 && left == 0 && cropHeight == h && cropWidth == w { return image }
        var source = image
        if top < 0 || left < 0 || top + cropHeight > h || left + cropWidth > w {
            let paddedHeight = Swift.max(cropHeight, h), paddedWidth = Swift.max(cropWidth, w)
            let padTop = (paddedHeight - h + 1) / 2, padLeft = (paddedWidth - w + 1) / 2
            var padded = RGBImage(width: paddedWidth, height: paddedHeight, fill: RGBColor(red: 0, green: 0, blue: 0))
            for y in 0..<h {
                let dst = ((y + padTop) * paddedWidth + padLeft) * 3
                padded.pixels.replaceSubrange(dst..<(dst + w * 3), with: image.pixels[(y * w * 3)..<((y + 1) * w * 3)])
            }
            source = padded
            top = Swift.max(0, top + padTop)
            left = Swift.max(0, left + padLeft)
        }
        var out = [UInt8]()
        out.reserveCapacity(cropWidth * cropHeight * 3)
        for y in top..<(top + cropHeight) {
            let start = (y * source.width + left) * 3
            out.append(contentsOf: source.pixels[start..<(start + cropWidth * 3)])
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    /// HWC bytes → CHW float32: `Float(Double(x) / 255)` then `(x − mean) / std` in float32, as the CLIP
    /// processor's `rescale` (float64, cast to float32) and `normalize` (float32) compute it. Only 256 values
    /// exist per channel, so the arithmetic is done once into a table.
    public func normalize(_ image: RGBImage) -> Tensor {
        let plane = image.width * image.height
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let m = Float(mean[c]), s = Float(std[c])
            for v in 0..<256 { table[c * 256 + v] = (Float(Double(v) * (1.0 / 255.0)) - m) / s }
        }
        let out = Tensor.uninitialized([3, image.height, image.width])
        let dst = out.storage.floats
        image.pixels.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { lut in
                for i in 0..<plane {
                    dst[i] = lut[Int(src[3 * i])]
                    dst[plane + i] = lut[256 + Int(src[3 * i + 1])]
                    dst[2 * plane + i] = lut[512 + Int(src[3 * i + 2])]
                }
            }
        }
        return out
    }
}

/// The processed tensors of one image, and the frames boxes are expressed in.
public struct ProcessedImage {
    /// [3, auxSize, auxSize], for ConvNeXt.
    public let pixelValuesAux: Tensor
    /// [3, clipSize, clipSize], for CLIP.
    public let pixelValues: Tensor
    /// Size of the decoded image (the frame of the box JSON).
    public let originalWidth: Int
    public let originalHeight: Int
    /// Size after `expand2square` (S × S when padding is on): the frame the box resize starts from.
    public let frameWidth: Int
    public let frameHeight: Int
}

/// Python's `//` for ints (rounds toward −∞).
@inline(__always)
func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q
}
