import CImageCodecs
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// PNG → RGB with libpng, reproducing what Pillow's own PNG reader + `convert('RGB')` produce
// (PngImagePlugin._MODES, Unpack.c, Convert.c):
//   gray 1/2/4/8-bit   → "1"/"L;2"/"L;4"/"L": 0/255, ×85, ×17, as is; replicated to RGB
//   gray 16-bit        → "I;16", then I16_RGB *clips*: value > 255 → 255 (it does not shift)
//   gray+alpha 8       → "LA": L replicated, alpha dropped
//   gray+alpha 16      → "LA;16B" into RGBA: the high byte of L (a shift), alpha dropped
//   palette 1/2/4/8    → "P": palette lookup; entries past the PLTE length are (0,0,0); tRNS ignored
//   RGB 8 / 16         → as is / high byte of each sample
//   RGBA 8 / 16        → alpha dropped (no compositing) / high bytes
// No libpng transform touches the samples except unpacking sub-byte pixels, so gAMA/sRGB/iCCP are ignored as
// Pillow ignores them. CRC errors are fatal in every chunk read (Pillow verifies each chunk before the image
// data); the trailing chunks after the image data are never read.

private enum PNGColorType {
    static let gray: Int32 = 0, rgb: Int32 = 2, palette: Int32 = 3, grayAlpha: Int32 = 4, rgba: Int32 = 6
}

/// What the PNG codec thread reads and writes. Plain memory only (see ImageCodecThread.swift).
struct PNGJob {
    var input: UnsafePointer<UInt8>
    var inputCount: Int
    var position = 0
    var png: OpaquePointer?
    var info: OpaquePointer?
    /// libpng's message for a fatal error (NUL-terminated, `messageCapacity` bytes).
    var message: UnsafeMutablePointer<CChar>
    var outcome = CodecOutcome.running
    var width = 0, height = 0
    var bitDepth: Int32 = 0, colorType: Int32 = 0
    /// The RGB result; owned by the caller.
    var pixels: UnsafeMutablePointer<UInt8>?
    /// Decoded samples before conversion: one row, or the whole image when interlaced; owned by the caller.
    var samples: UnsafeMutablePointer<UInt8>?
    /// 256 RGB palette entries; owned by the caller.
    var palette: UnsafeMutablePointer<UInt8>?

    static let messageCapacity = 256
}

/// Decodes PNG bytes to RGB; `source` names them in errors.
func decodePNG(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
        throw ImageDecodingError(source: source, reason: .empty)
    }
    // IHDR must be the first chunk: check the pixel count before libpng reads the chunks up to the image data.
    if bytes.count >= 24, bytes[12..<16].elementsEqual("IHDR".utf8) {
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) },
            height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        if width * height > ImageDecoder.maximumPixels {
            throw ImageDecodingError(source: source, reason: .tooLarge(width: width, height: height))
        }
    }
    let message = UnsafeMutablePointer<CChar>.allocate(capacity: PNGJob.messageCapacity)
    message.initialize(repeating: 0, count: PNGJob.messageCapacity)
    let job = UnsafeMutablePointer<PNGJob>.allocate(capacity: 1)
    job.initialize(to: PNGJob(input: base, inputCount: bytes.count, message: message))
    defer {
        if job.pointee.png != nil {
            var png = job.pointee.png, info = job.pointee.info
            png_destroy_read_struct(&png, &info, nil)
        }
        job.pointee.pixels?.deallocate()
        job.pointee.samples?.deallocate()
        job.pointee.palette?.deallocate()
        message.deallocate()
        job.deinitialize(count: 1)
        job.deallocate()
    }

    let body: CodecThreadBody = {
        decodePNGOnCodecThread($0); return nil
    }
    guard runOnCodecThread(body, job: job) else {
        throw ImageDecodingError(source: source, reason: .systemResources)
    }
    let result = job.pointee
    switch result.outcome {
    case .finished:
        guard let pixels = result.pixels else {
            throw ImageDecodingError(source: source, reason: .corrupt("no output"))
        }
        return RGBImage(
            width: result.width, height: result.height,
            pixels: Array(UnsafeBufferPointer(start: pixels, count: result.width * result.height * 3)))
    case .truncated:
        throw ImageDecodingError(source: source, reason: .truncated)
    case .tooLarge:
        throw ImageDecodingError(source: source, reason: .tooLarge(width: result.width, height: result.height))
    case .unsupported:
        throw ImageDecodingError(
            source: source,
            reason: .unsupported(
                "PNG colour type \(result.colorType) with bit depth \(result.bitDepth)"))
    case .corrupt, .running:
        let text = String(cString: message)
        throw ImageDecodingError(source: source, reason: .corrupt(text.isEmpty ? "decoder stopped" : text))
    }
}

// MARK: - On the codec thread

private func pngJob(_ png: OpaquePointer?) -> UnsafeMutablePointer<PNGJob>? {
    png_get_io_ptr(png)?.assumingMemoryBound(to: PNGJob.self)
}

/// libpng's fatal-error handler: keep the message, end the thread (it must not return; libpng aborts if it does).
private let pngError: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { png, text in
    if let job = png_get_error_ptr(png)?.assumingMemoryBound(to: PNGJob.self) {
        if let text { strncpy(job.pointee.message, text, PNGJob.messageCapacity - 1) }
        // A read past the end reports through pngRead; keep that outcome.
        if job.pointee.outcome == .running { job.pointee.outcome = .corrupt }
    }
    exitCodecThread()
}

/// Warnings (benign problems, bad ancillary data libpng skips) are ignored, as Pillow ignores such chunks.
private let pngWarning: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void = { _, _ in }

/// Reads from the in-memory input; a read past its end means the file was truncated.
private let pngRead: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, Int) -> Void = {
    png, destination, count in
    guard let job = pngJob(png), let destination else { exitCodecThread() }
    guard count <= job.pointee.inputCount - job.pointee.position else {
        job.pointee.outcome = .truncated
        exitCodecThread()
    }
    (destination).update(from: job.pointee.input + job.pointee.position, count: count)
    job.pointee.position += count
}

private func decodePNGOnCodecThread(_ raw: UnsafeMutableRawPointer?) {
    guard let job = raw?.assumingMemoryBound(to: PNGJob.self) else { return }
    guard let png = PNG_LIBPNG_VER_STRING.withCString({ png_create_read_struct($0, raw, pngError, pngWarning) }) else {
        job.pointee.outcome = .corrupt
        return
    }
    job.pointee.png = png
    job.pointee.info = png_create_info_struct(png)
    guard let info = job.pointee.info else {
        job.pointee.outcome = .corrupt
        return
    }
    png_set_read_fn(png, raw, pngRead)
    // Pillow has no width/height limit of its own besides the pixel-count bomb check done below.
    png_set_user_limits(png, 0x7fff_ffff, 0x7fff_ffff)
    png_set_crc_action(png, 1 /* PNG_CRC_ERROR_QUIT */, 1 /* PNG_CRC_ERROR_QUIT */)

    png_read_info(png, info)
    let width = Int(png_get_image_width(png, info)), height = Int(png_get_image_height(png, info))
    let bitDepth = Int32(png_get_bit_depth(png, info)), colorType = Int32(png_get_color_type(png, info))
    job.pointee.width = width
    job.pointee.height = height
    job.pointee.bitDepth = bitDepth
    job.pointee.colorType = colorType
    if width * height > ImageDecoder.maximumPixels {
        job.pointee.outcome = .tooLarge
        return
    }
    switch colorType {
    case PNGColorType.gray, PNGColorType.palette, PNGColorType.rgb, PNGColorType.grayAlpha, PNGColorType.rgba: break
    default:
        job.pointee.outcome = .unsupported
        return
    }

    if colorType == PNGColorType.palette {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 256 * 3)
        table.initialize(repeating: 0, count: 256 * 3)
        job.pointee.palette = table
        var entries: UnsafeMutablePointer<png_color>?
        var count: Int32 = 0
        if png_get_PLTE(png, info, &entries, &count) != 0, let entries {
            for i in 0..<min(Int(count), 256) {
                table[3 * i] = entries[i].red; table[3 * i + 1] = entries[i].green; table[3 * i + 2] = entries[i].blue
            }
        }
    }

    if bitDepth < 8 { png_set_packing(png) }  // one byte per sample, values unscaled
    let passes = Int(png_set_interlace_handling(png))
    png_read_update_info(png, info)
    let rowBytes = Int(png_get_rowbytes(png, info))
    let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: width * height * 3)
    job.pointee.pixels = pixels

    if passes <= 1 {
        let row = UnsafeMutablePointer<UInt8>.allocate(capacity: rowBytes)
        job.pointee.samples = row
        for y in 0..<height {
            png_read_row(png, row, nil)
            convertPNGRow(row, into: pixels + y * width * 3, width: width, job: job)
        }
    } else {
        // Adam7: every pass updates the whole image, so keep all rows until the last pass.
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: rowBytes * height)
        image.initialize(repeating: 0, count: rowBytes * height)
        job.pointee.samples = image
        for _ in 0..<passes {
            for y in 0..<height { png_read_row(png, image + y * rowBytes, nil) }
        }
        for y in 0..<height {
            convertPNGRow(image + y * rowBytes, into: pixels + y * width * 3, width: width, job: job)
        }
    }
    job.pointee.outcome = .finished
}

/// One row of decoded samples → RGB, following Pillow's unpackers and `convert('RGB')` (table at the top).
private func convertPNGRow(
    _ row: UnsafePointer<UInt8>, into rgb: UnsafeMutablePointer<UInt8>, width: Int,
    job: UnsafeMutablePointer<PNGJob>
) {
    let bitDepth = job.pointee.bitDepth
    @inline(__always) func put(_ x: Int, _ r: UInt8, _ g: UInt8, _ b: UInt8) {
        rgb[3 * x] = r; rgb[3 * x + 1] = g; rgb[3 * x + 2] = b
    }
    switch job.pointee.colorType {
    case PNGColorType.gray:
        switch bitDepth {
        case 16:
            for x in 0..<width {
                let v = row[2 * x] == 0 ? row[2 * x + 1] : 255  // I16_RGB clips
                put(x, v, v, v)
            }
        default:
            // Unpacked sub-byte samples keep their raw values; Pillow scales them to 0...255.
            let scale: UInt8 = bitDepth == 1 ? 255 : bitDepth == 2 ? 0x55 : bitDepth == 4 ? 0x11 : 1
            for x in 0..<width {
                let v = row[x] &* scale
                put(x, v, v, v)
            }
        }
    case PNGColorType.grayAlpha:
        let step = bitDepth == 16 ? 4 : 2
        for x in 0..<width {
            let v = row[step * x]
            put(x, v, v, v)
        }
    case PNGColorType.palette:
        guard let table = job.pointee.palette else { return }
        for x in 0..<width {
            let i = 3 * Int(row[x])
            put(x, table[i], table[i + 1], table[i + 2])
        }
    case PNGColorType.rgb, PNGColorType.rgba:
        let channels = job.pointee.colorType == PNGColorType.rgb ? 3 : 4
        let bytesPerSample = bitDepth == 16 ? 2 : 1
        let step = channels * bytesPerSample
        for x in 0..<width {
            let p = row + step * x
            put(x, p[0], p[bytesPerSample], p[2 * bytesPerSample])
        }
    default:
        break
    }
}
