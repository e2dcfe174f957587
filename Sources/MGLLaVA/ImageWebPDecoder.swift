import CImageCodecs

// WebP → RGB with libwebp, as Pillow 10.x does it (WebPImagePlugin + _webp.c): every file, still or animated, goes
// through libwebp's WebPAnimDecoder asking for non-premultiplied RGBA, and the first frame's canvas is taken.
// `convert('RGB')` then drops alpha without compositing, so R, G, B are the decoded samples even where alpha is 0
// (an animated file's first frame smaller than the canvas leaves (0, 0, 0) around it, as libwebp clears the
// canvas). Lossless files therefore match Pillow bit for bit. Lossy ones depend on libwebp's YUV→RGB conversion:
// Debian 12's libwebp 1.2.4 and the 1.4.0 bundled in Pillow 10.4's wheels give identical samples on the lossy
// fixtures (ImageFormatParityTests compares them exactly, so a library change that alters this shows there).
// libwebp reports errors through return codes (no longjmp, no abort), so it runs on the caller's thread.
// ICC profiles and EXIF are ignored, as Pillow ignores them on open.

/// Decodes WebP bytes to RGB (first frame); `source` names them in errors.
func decodeWebP(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
        throw ImageDecodingError(source: source, reason: .empty)
    }
    func fail(_ reason: ImageDecodingError.Reason) -> ImageDecodingError {
        ImageDecodingError(source: source, reason: reason)
    }
    // A RIFF size past the end of the data: the file was cut (libwebp's demuxer would only say it failed).
    if bytes.count >= 8 {
        let riffSize = (0..<4).reduce(0) { $0 | Int(bytes[4 + $1]) << (8 * $1) }
        if riffSize + 8 > bytes.count { throw fail(.truncated) }
    }
    // The header (size, animation flag) first: a bad or cut header is reported with libwebp's status, and the
    // pixel limit is checked before anything is decoded.
    var features = WebPBitstreamFeatures()
    let status = WebPGetFeatures(base, bytes.count, &features)
    guard status == VP8_STATUS_OK else { throw fail(webpFailure(status)) }

    var data = WebPData(bytes: base, size: bytes.count)
    var options = WebPAnimDecoderOptions()
    guard WebPAnimDecoderOptionsInit(&options) != 0 else { throw fail(.corrupt("libwebp version mismatch")) }
    options.color_mode = MODE_RGBA
    options.use_threads = 0
    guard let decoder = WebPAnimDecoderNew(&data, &options) else {
        throw fail(.corrupt("libwebp could not parse the WebP container"))
    }
    defer { WebPAnimDecoderDelete(decoder) }
    var info = WebPAnimInfo()
    guard WebPAnimDecoderGetInfo(decoder, &info) != 0 else { throw fail(.corrupt("libwebp could not read the canvas")) }
    let width = Int(info.canvas_width), height = Int(info.canvas_height)
    guard width > 0, height > 0 else { throw fail(.corrupt("WebP of \(width)×\(height) pixels")) }
    if width * height > ImageDecoder.maximumPixels { throw fail(.tooLarge(width: width, height: height)) }

    var canvas: UnsafeMutablePointer<UInt8>?
    var timestamp: Int32 = 0
    guard WebPAnimDecoderGetNext(decoder, &canvas, &timestamp) != 0, let canvas else {
        // The animation decoder does not say why; a plain decode of a still image does.
        if features.has_animation == 0 {
            var config = WebPDecoderConfig()
            if WebPInitDecoderConfig(&config) != 0 {
                config.output.colorspace = MODE_RGBA
                let decoded = WebPDecode(base, bytes.count, &config)
                WebPFreeDecBuffer(&config.output)
                if decoded != VP8_STATUS_OK { throw fail(webpFailure(decoded)) }
            }
        }
        throw fail(.corrupt("libwebp could not decode the first frame"))
    }
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
        rgb[3 * i] = canvas[4 * i]; rgb[3 * i + 1] = canvas[4 * i + 1]; rgb[3 * i + 2] = canvas[4 * i + 2]
    }
    return RGBImage(width: width, height: height, pixels: rgb)
}

private func webpFailure(_ status: VP8StatusCode) -> ImageDecodingError.Reason {
    switch status {
    case VP8_STATUS_NOT_ENOUGH_DATA: return .truncated
    case VP8_STATUS_BITSTREAM_ERROR: return .corrupt("libwebp: bitstream error")
    case VP8_STATUS_UNSUPPORTED_FEATURE: return .corrupt("libwebp: unsupported feature")
    case VP8_STATUS_OUT_OF_MEMORY: return .corrupt("libwebp: out of memory")
    case VP8_STATUS_INVALID_PARAM: return .corrupt("libwebp: invalid parameter")
    default: return .corrupt("libwebp status \(status.rawValue)")
    }
}
