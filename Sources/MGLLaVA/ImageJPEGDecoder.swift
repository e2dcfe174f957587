import CImageCodecs

// JPEG → RGB with libjpeg-turbo, as Pillow does it (JpegDecode.c, JpegImagePlugin.py, Convert.c):
// default decompression parameters (ISLOW IDCT, fancy upsampling, libjpeg's own colour-space guess from the
// JFIF/Adobe markers); 1 component → grayscale replicated to RGB; 3 → libjpeg's RGB output; 4 → libjpeg's CMYK
// output (it converts YCCK), which Pillow always reads as Adobe-inverted ("CMYK;I") and converts with
// `cmyk2rgb`. Warnings are ignored as Pillow ignores them; running out of data is an error, as Pillow's
// "image file is truncated" is. Trailing data after the last scanline is never read (Pillow tolerates a
// missing EOI once every row is decoded).

/// What the JPEG codec thread reads and writes. Plain memory only (see ImageCodecThread.swift).
struct JPEGJob {
    var input: UnsafePointer<UInt8>
    var inputCount: Int
    var decompress: UnsafeMutablePointer<jpeg_decompress_struct>
    var errorManager: UnsafeMutablePointer<jpeg_error_mgr>
    var source: UnsafeMutablePointer<jpeg_source_mgr>
    /// libjpeg's message for a fatal error (`JMSG_LENGTH_MAX` bytes).
    var message: UnsafeMutablePointer<CChar>
    /// Set once `jpeg_CreateDecompress` succeeded: the caller must then `jpeg_destroy_decompress`.
    var created = false
    var outcome = CodecOutcome.running
    var width = 0, height = 0, components = 0
    /// The RGB result, allocated on the codec thread once the size is known; owned by the caller.
    var pixels: UnsafeMutablePointer<UInt8>?
    /// One decoded row for grayscale/CMYK before conversion; owned by the caller.
    var row: UnsafeMutablePointer<UInt8>?
}

/// Decodes JPEG bytes to RGB; `source` names them in errors.
func decodeJPEG(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
        throw ImageDecodingError(source: source, reason: .empty)
    }
    let decompress = UnsafeMutablePointer<jpeg_decompress_struct>.allocate(capacity: 1)
    let errorManager = UnsafeMutablePointer<jpeg_error_mgr>.allocate(capacity: 1)
    let sourceManager = UnsafeMutablePointer<jpeg_source_mgr>.allocate(capacity: 1)
    decompress.initialize(to: jpeg_decompress_struct())
    errorManager.initialize(to: jpeg_error_mgr())
    sourceManager.initialize(to: jpeg_source_mgr())
    let message = UnsafeMutablePointer<CChar>.allocate(capacity: Int(JMSG_LENGTH_MAX))
    message.initialize(repeating: 0, count: Int(JMSG_LENGTH_MAX))
    let job = UnsafeMutablePointer<JPEGJob>.allocate(capacity: 1)
    job.initialize(
        to: JPEGJob(
            input: base, inputCount: bytes.count, decompress: decompress,
            errorManager: errorManager, source: sourceManager, message: message))
    defer {
        if job.pointee.created { jpeg_destroy_decompress(decompress) }
        job.pointee.pixels?.deallocate()
        job.pointee.row?.deallocate()
        decompress.deallocate(); errorManager.deallocate(); sourceManager.deallocate(); message.deallocate()
        job.deinitialize(count: 1)
        job.deallocate()
    }

    let body: CodecThreadBody = {
        decodeJPEGOnCodecThread($0); return nil
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
        let count = result.width * result.height * 3
        return RGBImage(
            width: result.width, height: result.height,
            pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    case .truncated:
        throw ImageDecodingError(source: source, reason: .truncated)
    case .tooLarge:
        throw ImageDecodingError(source: source, reason: .tooLarge(width: result.width, height: result.height))
    case .unsupported:
        throw ImageDecodingError(source: source, reason: .unsupported("JPEG with \(result.components) components"))
    case .corrupt, .running:
        // `.running` means the thread ended without recording why; report libjpeg's last message if any.
        let text = String(cString: message)
        throw ImageDecodingError(source: source, reason: .corrupt(text.isEmpty ? "decoder stopped" : text))
    }
}

// MARK: - On the codec thread

private func jpegJob(_ cinfo: j_decompress_ptr?) -> UnsafeMutablePointer<JPEGJob>? {
    cinfo?.pointee.client_data?.assumingMemoryBound(to: JPEGJob.self)
}

/// libjpeg's fatal-error handler: keep its message, end the thread (it must not return).
private let jpegErrorExit: @convention(c) (j_common_ptr?) -> Void = { cinfo in
    if let cinfo, let job = cinfo.pointee.client_data?.assumingMemoryBound(to: JPEGJob.self) {
        cinfo.pointee.err.pointee.format_message(cinfo, job.pointee.message)
        job.pointee.outcome = .corrupt
    }
    exitCodecThread()
}

/// Warnings (corrupt-but-decodable data) are ignored, as Pillow's decoder ignores them.
private let jpegIgnoreMessage: @convention(c) (j_common_ptr?, Int32) -> Void = { _, _ in }

private let jpegInitSource: @convention(c) (j_decompress_ptr?) -> Void = { _ in }
private let jpegTermSource: @convention(c) (j_decompress_ptr?) -> Void = { _ in }

/// All input is in memory from the start, so a request for more means the data ended early.
private let jpegFillInputBuffer: @convention(c) (j_decompress_ptr?) -> boolean = { cinfo in
    jpegJob(cinfo)?.pointee.outcome = .truncated
    exitCodecThread()
}

private let jpegSkipInputData: @convention(c) (j_decompress_ptr?, Int) -> Void = { cinfo, count in
    guard let source = cinfo?.pointee.src, count > 0 else { return }
    if count > source.pointee.bytes_in_buffer {
        jpegJob(cinfo)?.pointee.outcome = .truncated
        exitCodecThread()
    }
    source.pointee.next_input_byte += count
    source.pointee.bytes_in_buffer -= count
}

private func decodeJPEGOnCodecThread(_ raw: UnsafeMutableRawPointer?) {
    guard let job = raw?.assumingMemoryBound(to: JPEGJob.self) else { return }
    let cinfo = job.pointee.decompress

    cinfo.pointee.err = jpeg_std_error(job.pointee.errorManager)
    job.pointee.errorManager.pointee.error_exit = jpegErrorExit
    job.pointee.errorManager.pointee.emit_message = jpegIgnoreMessage
    cinfo.pointee.client_data = raw  // kept by jpeg_CreateDecompress, so its own errors reach the job too
    jpeg_CreateDecompress(cinfo, JPEG_LIB_VERSION, MemoryLayout<jpeg_decompress_struct>.size)
    job.pointee.created = true

    let source = job.pointee.source
    source.pointee.next_input_byte = job.pointee.input
    source.pointee.bytes_in_buffer = job.pointee.inputCount
    source.pointee.init_source = jpegInitSource
    source.pointee.fill_input_buffer = jpegFillInputBuffer
    source.pointee.skip_input_data = jpegSkipInputData
    source.pointee.resync_to_restart = jpeg_resync_to_restart
    source.pointee.term_source = jpegTermSource
    cinfo.pointee.src = source

    // As Pillow: a tables-only datastream may precede the image; read on until an image header.
    while jpeg_read_header(cinfo, 0) == JPEG_HEADER_TABLES_ONLY {}
    let width = Int(cinfo.pointee.image_width), height = Int(cinfo.pointee.image_height)
    let components = Int(cinfo.pointee.num_components)
    job.pointee.width = width
    job.pointee.height = height
    job.pointee.components = components
    // Pillow refuses the image from the header (Image.open → DecompressionBombError), before any pixel is decoded.
    if width * height > ImageDecoder.maximumPixels {
        job.pointee.outcome = .tooLarge
        return
    }
    switch components {
    case 1: cinfo.pointee.out_color_space = JCS_GRAYSCALE
    case 3: cinfo.pointee.out_color_space = JCS_RGB
    case 4: cinfo.pointee.out_color_space = JCS_CMYK
    default:
        // Pillow: "cannot handle N-layer images".
        job.pointee.outcome = .unsupported
        return
    }

    _ = jpeg_start_decompress(cinfo)
    let pixels = UnsafeMutablePointer<UInt8>.allocate(capacity: width * height * 3)
    job.pointee.pixels = pixels
    if components != 3 {
        job.pointee.row = UnsafeMutablePointer<UInt8>.allocate(capacity: width * components)
    }
    while cinfo.pointee.output_scanline < cinfo.pointee.output_height {
        let y = Int(cinfo.pointee.output_scanline)
        let out = pixels + y * width * 3
        var target: JSAMPROW? = components == 3 ? out : job.pointee.row
        // Our source never suspends, so libjpeg returns the row or ends the thread through error_exit.
        guard jpeg_read_scanlines(cinfo, &target, 1) == 1 else {
            job.pointee.outcome = .corrupt
            return
        }
        if let decoded = job.pointee.row {
            if components == 1 {
                expandGray(decoded, into: out, count: width)
            } else {
                convertInvertedCMYK(decoded, into: out, count: width)
            }
        }
    }
    job.pointee.outcome = .finished
}

/// L → RGB (Pillow `l2rgb`).
private func expandGray(_ gray: UnsafePointer<UInt8>, into rgb: UnsafeMutablePointer<UInt8>, count: Int) {
    for x in 0..<count {
        let v = gray[x]
        rgb[3 * x] = v; rgb[3 * x + 1] = v; rgb[3 * x + 2] = v
    }
}

/// libjpeg's CMYK samples → RGB as Pillow: unpack "CMYK;I" (every byte inverted), then `cmyk2rgb`:
/// nk = 255 − K; channel = clip(nk − nk·C/255) with Pillow's rounded MULDIV255.
private func convertInvertedCMYK(_ cmyk: UnsafePointer<UInt8>, into rgb: UnsafeMutablePointer<UInt8>, count: Int) {
    for x in 0..<count {
        let nk = 255 - Int(255 - cmyk[4 * x + 3])
        for c in 0..<3 {
            let product = Int(255 - cmyk[4 * x + c]) * nk + 128
            let scaled = ((product >> 8) + product) >> 8
            rgb[3 * x + c] = UInt8(clamping: nk - scaled)
        }
    }
}
