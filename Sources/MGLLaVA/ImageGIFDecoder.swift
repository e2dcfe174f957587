import CImageCodecs

// GIF → RGB with giflib's low-level reader, reproducing what Pillow 10.x's GifImagePlugin does for the first
// frame (`_open`, `_seek(0)`, `load_prepare`) and what `convert('RGB')` then does:
//   - only the first image is decoded; later frames (and their disposal) are never read;
//   - the image is the logical screen, grown to hold the first frame if that frame reaches past it;
//   - pixels outside the frame hold the frame's transparent index when its Graphic Control Extension sets one,
//     index 0 otherwise (Pillow fills the canvas so); transparency is then ignored by `convert('RGB')`, which
//     looks the index up like any other (no compositing);
//   - the frame's local colour table wins over the global one; a table that is exactly the grey ramp
//     (entry i = (i, i, i)), or no table at all, makes Pillow open the image as "L": the index is the grey level;
//   - indices past the table's end look up (0, 0, 0), as Pillow's palette does;
//   - interlaced rows are put back in order.
// giflib reports every failure through return codes (it never longjmps or aborts), so it runs on the caller's
// thread. Data that ends early (giflib's read callback runs dry) or LZW data whose end-of-information code comes
// before the last pixel is `.truncated`, as Pillow 10.4 says "image file is truncated" for both; giflib's other
// errors are `.corrupt` with its message. Not reproduced: Pillow also decodes LZW minimum code sizes 9 to 12
// (the GIF spec stops at 8); giflib refuses them, and so those files are `.unsupported`, saying so.

/// The in-memory input giflib reads through `gifRead`.
private struct GIFInput {
    var base: UnsafePointer<UInt8>
    var count: Int
    var position = 0
    /// Set when giflib asked for more bytes than were left.
    var ranOut = false
}

private let gifRead:
    @convention(c) (UnsafeMutablePointer<GifFileType>?, UnsafeMutablePointer<GifByteType>?, Int32)
        -> Int32 = { gif, destination, wanted in
            guard let input = gif?.pointee.UserData?.assumingMemoryBound(to: GIFInput.self), let destination, wanted > 0
            else {
                return 0
            }
            let n = min(Int(wanted), input.pointee.count - input.pointee.position)
            if n < Int(wanted) { input.pointee.ranOut = true }
            if n > 0 {
                destination.update(from: input.pointee.base + input.pointee.position, count: n)
                input.pointee.position += n
            }
            return Int32(n)
        }

/// Decodes GIF bytes to RGB (first frame); `source` names them in errors.
func decodeGIF(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
        throw ImageDecodingError(source: source, reason: .empty)
    }
    let input = UnsafeMutablePointer<GIFInput>.allocate(capacity: 1)
    input.initialize(to: GIFInput(base: base, count: bytes.count))
    defer { input.deinitialize(count: 1); input.deallocate() }

    func failure(_ code: Int32) -> ImageDecodingError {
        if input.pointee.ranOut || code == D_GIF_ERR_EOF_TOO_SOON {
            return ImageDecodingError(source: source, reason: .truncated)
        }
        let text = GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
        return ImageDecodingError(source: source, reason: .corrupt(text))
    }

    var openError: Int32 = 0
    guard let gif = DGifOpen(input, gifRead, &openError) else { throw failure(openError) }
    defer { var closeError: Int32 = 0; _ = DGifCloseFile(gif, &closeError) }

    // Records up to the first image descriptor; the last Graphic Control Extension before it applies.
    var transparency: Int?
    recordLoop: while true {
        var record = UNDEFINED_RECORD_TYPE
        guard DGifGetRecordType(gif, &record) == GIF_OK else { throw failure(gif.pointee.Error) }
        switch record {
        case IMAGE_DESC_RECORD_TYPE:
            break recordLoop
        case EXTENSION_RECORD_TYPE:
            var code: Int32 = 0
            var block: UnsafeMutablePointer<GifByteType>?
            guard DGifGetExtension(gif, &code, &block) == GIF_OK else { throw failure(gif.pointee.Error) }
            // giflib's block: byte 0 is the sub-block length, then its bytes (Pillow's `block`).
            if code == GRAPHICS_EXT_FUNC_CODE, let block, block[0] >= 4 {
                transparency = block[1] & 1 != 0 ? Int(block[4]) : nil
            }
            while block != nil {
                guard DGifGetExtensionNext(gif, &block) == GIF_OK else { throw failure(gif.pointee.Error) }
            }
        case TERMINATE_RECORD_TYPE:
            throw ImageDecodingError(source: source, reason: .corrupt("no image in the GIF file"))
        default:
            throw ImageDecodingError(source: source, reason: .corrupt("unexpected GIF record"))
        }
    }
    guard DGifGetImageDesc(gif) == GIF_OK else {
        // giflib reads the LZW minimum code size last and refuses one above 8 with a "read failed" code although
        // the read succeeded: name the real reason.
        let at = input.pointee.position - 1
        if gif.pointee.Error == D_GIF_ERR_READ_FAILED, !input.pointee.ranOut, at >= 0, at < bytes.count, bytes[at] > 8 {
            throw ImageDecodingError(
                source: source,
                reason: .unsupported(
                    "GIF with LZW minimum code size \(bytes[at]) (giflib reads at most 8; Pillow up to 12)"))
        }
        throw failure(gif.pointee.Error)
    }

    let frame = gif.pointee.Image
    let x0 = Int(frame.Left), y0 = Int(frame.Top), frameWidth = Int(frame.Width), frameHeight = Int(frame.Height)
    let width = max(Int(gif.pointee.SWidth), x0 + frameWidth), height = max(Int(gif.pointee.SHeight), y0 + frameHeight)
    guard width > 0, height > 0 else {
        throw ImageDecodingError(source: source, reason: .corrupt("GIF of \(width)×\(height) pixels"))
    }
    if width * height > ImageDecoder.maximumPixels {
        throw ImageDecodingError(source: source, reason: .tooLarge(width: width, height: height))
    }

    // The colour table Pillow looks indices up in, or nil for "L" (grey ramp or no table).
    func table(_ map: UnsafeMutablePointer<ColorMapObject>?) -> [UInt8]? {
        guard let map, let colors = map.pointee.Colors, map.pointee.ColorCount > 0 else { return nil }
        var rgb = [UInt8](repeating: 0, count: 256 * 3)
        var isRamp = true
        for i in 0..<Int(map.pointee.ColorCount) {
            let c = colors[i]
            if !(Int(c.Red) == i && Int(c.Green) == i && Int(c.Blue) == i) { isRamp = false }
            if i < 256 { rgb[3 * i] = c.Red; rgb[3 * i + 1] = c.Green; rgb[3 * i + 2] = c.Blue }
        }
        return isRamp ? nil : rgb
    }
    let palette = frame.ColorMap != nil ? table(frame.ColorMap) : table(gif.pointee.SColorMap)

    // The canvas of indices: the transparent index (or 0) around the frame, then the frame's rows.
    var indices = [UInt8](repeating: UInt8(truncatingIfNeeded: transparency ?? 0), count: width * height)
    if frameWidth > 0 && frameHeight > 0 {
        var line = [GifPixelType](repeating: 0, count: frameWidth)
        let rows: [Int]
        if frame.Interlace {
            rows = [(0, 8), (4, 8), (2, 4), (1, 2)].flatMap { start, step in
                Array(stride(from: start, to: frameHeight, by: step))
            }
        } else {
            rows = Array(0..<frameHeight)
        }
        for y in rows {
            let ok = line.withUnsafeMutableBufferPointer { DGifGetLine(gif, $0.baseAddress, Int32(frameWidth)) }
            guard ok == GIF_OK else { throw failure(gif.pointee.Error) }
            let start = (y0 + y) * width + x0
            for x in 0..<frameWidth { indices[start + x] = line[x] }
        }
    }

    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
        let v = indices[i]
        if let palette {
            let p = 3 * Int(v)
            rgb[3 * i] = palette[p]; rgb[3 * i + 1] = palette[p + 1]; rgb[3 * i + 2] = palette[p + 2]
        } else {
            rgb[3 * i] = v; rgb[3 * i + 1] = v; rgb[3 * i + 2] = v
        }
    }
    return RGBImage(width: width, height: height, pixels: rgb)
}
