import CImageCodecs
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// TIFF → RGB with libtiff, reproducing Pillow 10.x's TiffImagePlugin (`_setup`, its OPEN_INFO table of
// photometric × bits × extra samples → mode and raw mode), the unpackers and `convert('RGB')`. Only the first
// page (IFD) is read. libtiff decompresses (none, LZW, deflate, PackBits, CCITT, JPEG…), undoes predictors and
// fill order and swaps 16-bit samples to host order; the samples are then converted here as Pillow does:
//   1-bit        "1" (BlackIsZero) / "1;I" (WhiteIsZero): 0 or 255
//   2/4/8-bit    "L;2" ×85, "L;4" ×17, "L"; WhiteIsZero inverts ("L;2I", "L;4I", "L;I"); replicated
//   16-bit grey  "I;16" (either photometric: Pillow does not invert 16-bit WhiteIsZero), then I16→RGB *clips*:
//                a value above 255 becomes 255
//   grey + alpha "LA" (unassociated alpha only): alpha dropped
//   RGB 8        "RGB"; a 4th sample: unassociated or unspecified-but-untagged alpha ("RGBA") and "RGBX" dropped,
//                associated alpha ("RGBa") *un-premultiplied* first: v·255/a (integer division), 0 where a = 0
//   RGB 16       "RGB;16N"/"RGBA;16N"/"RGBX;16N": the high byte of each sample
//   palette      "P;1/2/4", "P" (also "PX" and "PA"): the colour map's high bytes (v // 256) looked up
//   CMYK 8 / 16  "CMYK" (plus ignored extra samples) / high bytes, then Pillow's cmyk2rgb:
//                channel = nk − nk·C/255 (rounded), nk = 255 − K
//   JPEG (7)     as Pillow: libtiff's JPEG codec, with JPEGCOLORMODE_RGB when the data is YCbCr (read as RGB);
//                grey and RGB JPEG data as the grey and RGB rows above. Old-style JPEG (6) is refused.
// Anything else Pillow's table lacks (signed or float samples, 12-bit, LAB, YCbCr outside JPEG, ...) is refused
// as unsupported; Pillow raises "unknown pixel mode" for most of those, and decodes a few (float "F", 32-bit
// "I", LAB, uncompressed YCbCr) that are not reproduced here. Nor is Pillow's leniency with a planar
// (PlanarConfiguration 2) file that lists fewer strips than planes: Pillow leaves the missing planes 0, libtiff
// refuses the file, and so it is `.corrupt` here.
// libtiff reports errors through a handler that returns (no longjmp, no abort), installed per file with
// TIFFOpenOptions so no global state changes; it runs on the caller's thread. Reads past the end of the data
// are `.truncated`; libtiff's other errors are `.corrupt` with its message.

/// What the libtiff callbacks read and write.
private struct TIFFInput {
    var base: UnsafePointer<UInt8>
    var count: Int
    var position = 0
    var ranOut = false
    /// libtiff's first error message (NUL-terminated).
    var message: UnsafeMutablePointer<CChar>
    static let messageCapacity = 256
}

private func tiffInput(_ handle: thandle_t?) -> UnsafeMutablePointer<TIFFInput>? {
    handle?.assumingMemoryBound(to: TIFFInput.self)
}

private let tiffRead: TIFFReadWriteProc = { handle, buffer, size in
    guard let input = tiffInput(handle), let buffer, size >= 0 else { return -1 }
    let n = min(Int(size), input.pointee.count - input.pointee.position)
    if n < Int(size) { input.pointee.ranOut = true }
    guard n > 0 else { return 0 }
    buffer.copyMemory(from: input.pointee.base + input.pointee.position, byteCount: n)
    input.pointee.position += n
    return tmsize_t(n)
}

private let tiffWrite: TIFFReadWriteProc = { _, _, _ in -1 }

private let tiffSeek: TIFFSeekProc = { handle, offset, whence in
    guard let input = tiffInput(handle) else { return toff_t.max }
    let target: Int
    switch whence {
    case SEEK_SET: target = Int(truncatingIfNeeded: offset)
    case SEEK_CUR: target = input.pointee.position + Int(truncatingIfNeeded: Int64(bitPattern: offset))
    case SEEK_END: target = input.pointee.count + Int(truncatingIfNeeded: Int64(bitPattern: offset))
    default: return toff_t.max
    }
    guard target >= 0 else { return toff_t.max }
    // Seeking past the end is allowed (as lseek); the read that follows comes up short.
    input.pointee.position = min(target, Int.max / 2)
    return toff_t(input.pointee.position)
}

private let tiffClose: TIFFCloseProc = { _ in 0 }
private let tiffSize: TIFFSizeProc = { handle in toff_t(tiffInput(handle)?.pointee.count ?? 0) }
// No memory mapping: every read then goes through `tiffRead`, which notices data that ends early.
private let tiffMap: TIFFMapFileProc = { _, _, _ in 0 }
private let tiffUnmap: TIFFUnmapFileProc = { _, _, _ in }

// The error and warning handlers are passed as closure literals where they are installed: a module-level constant of
// their C type (whose signature holds a `va_list`) crashes swift-symbolgraph-extract (Swift 6.3.1) when it reads the
// module for the documentation.

/// Decodes TIFF bytes to RGB (first page); `source` names them in errors.
func decodeTIFF(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
        throw ImageDecodingError(source: source, reason: .empty)
    }
    let message = UnsafeMutablePointer<CChar>.allocate(capacity: TIFFInput.messageCapacity)
    message.initialize(repeating: 0, count: TIFFInput.messageCapacity)
    let input = UnsafeMutablePointer<TIFFInput>.allocate(capacity: 1)
    input.initialize(to: TIFFInput(base: base, count: bytes.count, message: message))
    defer { input.deinitialize(count: 1); input.deallocate(); message.deallocate() }

    func fail(_ reason: ImageDecodingError.Reason) -> ImageDecodingError {
        ImageDecodingError(source: source, reason: reason)
    }
    /// libtiff failed: data that ran out is a truncated file, anything else corrupt.
    func libtiffFailure(_ fallback: String) -> ImageDecodingError {
        if input.pointee.ranOut { return fail(.truncated) }
        let text = String(cString: message)
        return fail(.corrupt(text.isEmpty ? fallback : "libtiff: \(text)"))
    }

    guard let options = TIFFOpenOptionsAlloc() else { throw fail(.systemResources) }
    defer { TIFFOpenOptionsFree(options) }
    TIFFOpenOptionsSetErrorHandlerExtR(
        options,
        { _, userData, _, format, arguments in
            guard let input = tiffInput(userData) else { return 1 }
            if input.pointee.message[0] == 0, let format, let arguments {
                _ = vsnprintf(input.pointee.message, TIFFInput.messageCapacity, format, arguments)
            }
            return 1  // handled: libtiff's default handler (stderr) is not called
        }, input)
    // Warnings (unknown tags and the like) are ignored, as Pillow ignores them.
    TIFFOpenOptionsSetWarningHandlerExtR(options, { _, _, _, _, _ in 1 }, input)
    guard
        let tif = TIFFClientOpenExt(
            source, "rm", input, tiffRead, tiffWrite, tiffSeek, tiffClose, tiffSize,
            tiffMap, tiffUnmap, options)
    else {
        throw libtiffFailure("libtiff could not open the file")
    }
    defer { TIFFClose(tif) }

    func field<T>(_ tag: Int32, _ fallback: T) -> T where T: FixedWidthInteger {
        var value = T.zero
        let found = withUnsafeMutablePointer(to: &value) { pointer in
            withVaList([pointer]) { TIFFVGetField(tif, UInt32(tag), $0) }
        }
        return found == 1 ? value : fallback
    }
    let width = Int(field(TIFFTAG_IMAGEWIDTH, UInt32(0))), height = Int(field(TIFFTAG_IMAGELENGTH, UInt32(0)))
    let bits = Int(field(TIFFTAG_BITSPERSAMPLE, UInt16(1)))
    let samples = Int(field(TIFFTAG_SAMPLESPERPIXEL, UInt16(1)))
    let compression = Int(field(TIFFTAG_COMPRESSION, UInt16(1)))
    let planar = Int(field(TIFFTAG_PLANARCONFIG, UInt16(1)))
    let sampleFormat = Int(field(TIFFTAG_SAMPLEFORMAT, UInt16(1)))
    // Pillow's default photometric is 0 (WhiteIsZero). JPEG compression (7) keeps the file's photometric: grey,
    // RGB and YCbCr JPEG-in-TIFF are each read as such. (Pillow forces YCbCr only for old-style JPEG, 6, which is
    // refused below.)
    let photometric = Int(field(TIFFTAG_PHOTOMETRIC, UInt16(0)))
    var extras: [Int] = []
    do {
        var count: UInt16 = 0
        var values: UnsafeMutablePointer<UInt16>?
        let found = withUnsafeMutablePointer(to: &count) { c in
            withUnsafeMutablePointer(to: &values) { v in
                withVaList([c, v]) { TIFFVGetField(tif, UInt32(TIFFTAG_EXTRASAMPLES), $0) }
            }
        }
        if found == 1, let values { extras = (0..<Int(count)).map { Int(values[$0]) } }
    }

    guard width > 0, height > 0 else { throw fail(.corrupt("TIFF of \(width)×\(height) pixels")) }
    // Both sizes are 32-bit: their product can overflow an Int (libtiff accepts 1-bit images that large).
    let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
    if overflow || pixels > ImageDecoder.maximumPixels { throw fail(.tooLarge(width: width, height: height)) }

    // Pillow's OPEN_INFO lookup, reduced to the conversions that differ.
    enum Kind { case gray, gray16, rgb, rgbPremultiplied, palette, cmyk }
    func unsupported() -> ImageDecodingError {
        fail(
            .unsupported(
                "TIFF with photometric \(photometric), \(samples) × \(bits)-bit samples, sample format "
                    + "\(sampleFormat), extra samples \(extras)"))
    }
    guard sampleFormat == 1, samples - extras.count >= 1 else { throw unsupported() }
    // Pillow reads old-style JPEG (compression 6) as YCbCr through libtiff's RGBA interface; not reproduced.
    guard compression != Int(COMPRESSION_OJPEG) else {
        throw fail(.unsupported("TIFF with old-style JPEG compression"))
    }
    let kind: Kind
    switch (photometric, samples - extras.count, bits) {
    case (0, 1, 1), (1, 1, 1), (0, 1, 2), (1, 1, 2), (0, 1, 4), (1, 1, 4), (0, 1, 8), (1, 1, 8):
        guard extras.isEmpty || (photometric == 1 && bits == 8 && extras == [2]) else { throw unsupported() }
        kind = .gray
    case (0, 1, 16), (1, 1, 16):
        guard extras.isEmpty else { throw unsupported() }
        kind = .gray16
    case (2, 3, 8):
        if extras.first == 1 && extras.dropFirst().allSatisfy({ $0 == 0 }) && extras.count <= 3 {
            kind = .rgbPremultiplied
        } else if extras.isEmpty
            || (extras.count <= 3 && extras.dropFirst().allSatisfy({ $0 == 0 })
                && [0, 2].contains(extras[0]))
            || extras == [999]
        {
            kind = .rgb
        } else {
            throw unsupported()
        }
    case (2, 3, 16):
        guard extras.isEmpty || extras == [0] || extras == [2] else { throw unsupported() }
        kind = .rgb
    case (3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8):
        guard extras.isEmpty || (bits == 8 && (extras == [0] || extras == [2])) else { throw unsupported() }
        kind = .palette
    case (5, 4, 8):
        guard extras.count <= 2, extras.allSatisfy({ $0 == 0 }) else { throw unsupported() }
        kind = .cmyk
    case (5, 4, 16):
        guard extras.isEmpty else { throw unsupported() }
        kind = .cmyk
    case (6, 3, 8) where compression == Int(COMPRESSION_JPEG):
        guard extras.isEmpty else { throw unsupported() }
        if planar != 1 { throw unsupported() }
        // Pillow's TiffDecode.c: let libjpeg convert YCbCr to RGB (and upsample the chroma).
        _ = withVaList([Int32(JPEGCOLORMODE_RGB)]) { TIFFVSetField(tif, UInt32(TIFFTAG_JPEGCOLORMODE), $0) }
        kind = .rgb
    default:
        throw unsupported()
    }

    // Colour map: 3 × 2^bits 16-bit entries; Pillow keeps v // 256.
    var palette = [UInt8](repeating: 0, count: 256 * 3)
    if kind == .palette {
        var red: UnsafeMutablePointer<UInt16>?, green: UnsafeMutablePointer<UInt16>?,
            blue: UnsafeMutablePointer<UInt16>?
        let found = withUnsafeMutablePointer(to: &red) { r in
            withUnsafeMutablePointer(to: &green) { g in
                withUnsafeMutablePointer(to: &blue) { b in
                    withVaList([r, g, b]) { TIFFVGetField(tif, UInt32(TIFFTAG_COLORMAP), $0) }
                }
            }
        }
        guard found == 1, let red, let green, let blue else {
            throw fail(.corrupt("palette TIFF without a colour map"))
        }
        for i in 0..<(1 << bits) {
            palette[3 * i] = UInt8(red[i] >> 8); palette[3 * i + 1] = UInt8(green[i] >> 8)
            palette[3 * i + 2] = UInt8(blue[i] >> 8)
        }
    }

    // The samples, one plane per sample when planar (PlanarConfiguration 2), else one interleaved plane.
    let planes = planar == 2 ? samples : 1
    let perPlane = planar == 2 ? 1 : samples
    let rowBytes = (width * perPlane * bits + 7) / 8
    var data = [UInt8](repeating: 0, count: planes * height * rowBytes)
    try data.withUnsafeMutableBytes { buffer in
        guard let out = buffer.baseAddress else { return }
        if TIFFIsTiled(tif) != 0 {
            let tileWidth = Int(field(TIFFTAG_TILEWIDTH, UInt32(0))),
                tileHeight = Int(field(TIFFTAG_TILELENGTH, UInt32(0)))
            let tileSize = Int(TIFFTileSize(tif))
            let tileRowBytes = (tileWidth * perPlane * bits + 7) / 8
            // Tile sizes are 32-bit and need not relate to the image's: a tile buffer is allocated only for tiles
            // within the pixel limit (a 4×4 image in 2³²-pixel-wide tiles would otherwise cost exabytes).
            let (tilePixels, tileOverflow) = tileWidth.multipliedReportingOverflow(by: tileHeight)
            guard !tileOverflow, tilePixels <= ImageDecoder.maximumPixels else {
                throw fail(.corrupt("TIFF tiles of \(tileWidth)×\(tileHeight) pixels, beyond the pixel limit"))
            }
            guard tileWidth > 0, tileHeight > 0, tileSize >= tileRowBytes * tileHeight,
                tileWidth * perPlane * bits % 8 == 0 || tileWidth >= width
            else {
                throw fail(.corrupt("TIFF tiles of \(tileWidth)×\(tileHeight)"))
            }
            let tile = UnsafeMutableRawPointer.allocate(byteCount: tileSize, alignment: 16)
            defer { tile.deallocate() }
            for plane in 0..<planes {
                for ty in stride(from: 0, to: height, by: tileHeight) {
                    for tx in stride(from: 0, to: width, by: tileWidth) {
                        guard TIFFReadTile(tif, tile, UInt32(tx), UInt32(ty), 0, UInt16(plane)) >= 0 else {
                            throw libtiffFailure("libtiff could not read a tile")
                        }
                        let xByte = tx * perPlane * bits / 8
                        let copy = min(tileRowBytes, rowBytes - xByte)
                        for y in 0..<min(tileHeight, height - ty) {
                            (out + (plane * height + ty + y) * rowBytes + xByte)
                                .copyMemory(from: tile + y * tileRowBytes, byteCount: copy)
                        }
                    }
                }
            }
        } else {
            let scanline = Int(TIFFScanlineSize64(tif))
            guard scanline >= rowBytes else {
                throw fail(.corrupt("TIFF scanline of \(scanline) bytes for \(rowBytes)"))
            }
            let line = UnsafeMutableRawPointer.allocate(byteCount: scanline, alignment: 16)
            defer { line.deallocate() }
            for plane in 0..<planes {
                for y in 0..<height {
                    guard TIFFReadScanline(tif, line, UInt32(y), UInt16(plane)) == 1 else {
                        throw libtiffFailure("libtiff could not read row \(y)")
                    }
                    (out + (plane * height + y) * rowBytes).copyMemory(from: line, byteCount: rowBytes)
                }
            }
        }
    }

    // Sample `c` of pixel `x` in row `y`, as stored (bits ≤ 8: the value; 16: the high byte, host order).
    func sample(_ x: Int, _ y: Int, _ c: Int) -> Int {
        let plane = planar == 2 ? c : 0
        let index = planar == 2 ? x : x * samples + c
        let row = (plane * height + y) * rowBytes
        switch bits {
        case 8: return Int(data[row + index])
        case 16:
            let v = data.withUnsafeBytes { $0.load(fromByteOffset: row + 2 * index, as: UInt16.self) }
            return Int(v >> 8)
        default:
            let bit = index * bits
            return Int(data[row + bit / 8] >> (8 - bits - bit % 8)) & ((1 << bits) - 1)
        }
    }

    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    let invert = photometric == 0
    let scale = bits == 1 ? 255 : bits == 2 ? 0x55 : bits == 4 ? 0x11 : 1
    for y in 0..<height {
        for x in 0..<width {
            let o = (y * width + x) * 3
            switch kind {
            case .gray:
                let v = sample(x, y, 0) * scale
                let g = UInt8(invert ? 255 - v : v)
                rgb[o] = g; rgb[o + 1] = g; rgb[o + 2] = g
            case .gray16:
                // The full 16-bit value, clipped to 255 (Pillow's I16 → RGB).
                let row = y * rowBytes
                let v = data.withUnsafeBytes { $0.load(fromByteOffset: row + 2 * x, as: UInt16.self) }
                let g = UInt8(min(Int(v), 255))
                rgb[o] = g; rgb[o + 1] = g; rgb[o + 2] = g
            case .rgb:
                rgb[o] = UInt8(sample(x, y, 0)); rgb[o + 1] = UInt8(sample(x, y, 1));
                rgb[o + 2] = UInt8(sample(x, y, 2))
            case .rgbPremultiplied:
                // Pillow's unpackRGBa: v·255/a, clipped; a = 0 gives black, a = 255 the samples as they are.
                let a = sample(x, y, 3)
                for c in 0..<3 {
                    let v = sample(x, y, c)
                    rgb[o + c] = a == 0 ? 0 : a == 255 ? UInt8(v) : UInt8(min(255, v * 255 / a))
                }
            case .palette:
                let p = 3 * sample(x, y, 0)
                rgb[o] = palette[p]; rgb[o + 1] = palette[p + 1]; rgb[o + 2] = palette[p + 2]
            case .cmyk:
                let nk = 255 - sample(x, y, 3)
                for c in 0..<3 {
                    let product = sample(x, y, c) * nk + 128
                    rgb[o + c] = UInt8(clamping: nk - (((product >> 8) + product) >> 8))
                }
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: rgb)
}
