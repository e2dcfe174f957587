// BMP → RGB in Swift, reproducing Pillow 10.x's BmpImagePlugin (`_bitmap`, `BmpRleDecoder`) and the unpackers and
// `convert('RGB')` it leads to. The format is simple enough that a C library would add nothing; every read is
// bounds-checked, so bad input throws instead of trapping.
//
//   headers     12 (OS/2 1.x: 16-bit sizes, 3-byte palette entries), 40, 52, 56, 64, 108, 124 bytes; others refused
//   orientation bottom-up, or top-down when the height's top byte is 0xFF (Pillow's test; height = 2³² − h)
//   1/4/8-bit   palette ("P;1", "P;4", "P"), looked up; entries past the palette's end are (0, 0, 0). A palette
//               that is exactly black/white (2 colours) opens as "1", one that is the identity grey ramp as
//               "L": then the samples are read as 1-bit or 8-bit values whatever the file's bit count, as
//               Pillow's raw decoder reads them.
//   16-bit      "BGR;15" (5-5-5), or with BITFIELDS 5-6-5 "BGR;16" / 5-5-5; each field scaled v·255/max (floor)
//   24-bit      "BGR"
//   32-bit      "BGRX", or with BITFIELDS one of Pillow's five byte layouts (XBGR, ABGR, RGBA, BGRA, BGRX);
//               alpha is dropped without compositing, as `convert('RGB')` drops it
//   RLE8/RLE4   Pillow's Python decoder step by step, including its quirks: the delta escape reads four bytes
//               (two skipped, then right/up), odd-length RLE4 absolute runs lose their last pixel, absolute runs
//               are word-aligned to the *file* offset, and a stream that ends before the last row is an error
//               ("not enough image data") rather than a partly blank image.
// Other compressions (JPEG, PNG inside BMP, Huffman 1D) and bit counts (2, 64…) are refused as Pillow refuses them.

/// Decodes BMP bytes to RGB; `source` names them in errors.
func decodeBMP(_ bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
    func fail(_ reason: ImageDecodingError.Reason) -> ImageDecodingError {
        ImageDecodingError(source: source, reason: reason)
    }
    let count = bytes.count
    func u8(_ at: Int) throws -> Int {
        guard at >= 0, at < count else { throw fail(.truncated) }
        return Int(bytes[at])
    }
    func u16(_ at: Int) throws -> Int { try u8(at) | (u8(at + 1) << 8) }
    func u32(_ at: Int) throws -> Int { try u16(at) | (u16(at + 2) << 16) }

    // File header (14 bytes): "BM", file size, reserved, pixel-data offset. Then the DIB header.
    var offset = try u32(10)
    let headerSize = try u32(14)
    guard [12, 40, 52, 56, 64, 108, 124].contains(headerSize) else {
        throw fail(.corrupt("unsupported BMP header size \(headerSize)"))
    }
    guard count >= 14 + headerSize else { throw fail(.truncated) }
    let h = 18  // header data after its size field (Pillow's `header_data`)

    let width: Int, height: Int, bits: Int, compression: Int, paletteEntryBytes: Int
    var colors = 0
    var topDown = false
    var position = 14 + headerSize  // where Pillow's file pointer stands after the header
    var masks: (r: Int, g: Int, b: Int, a: Int) = (0, 0, 0, 0)
    if headerSize == 12 {
        width = try u16(h); height = try u16(h + 2); bits = try u16(h + 6)
        compression = 0
        paletteEntryBytes = 3
    } else {
        topDown = try u8(h + 7) == 0xFF
        width = try u32(h)
        let rawHeight = try u32(h + 4)
        height = topDown ? (1 << 32) - rawHeight : rawHeight
        bits = try u16(h + 10)
        compression = try u32(h + 12)
        colors = try u32(h + 28)
        paletteEntryBytes = 4
        if compression == 3 {
            // BITFIELDS: masks inside headers of 52+ bytes (alpha from 56), else the 12 bytes after the header.
            if headerSize - 4 >= 48 {
                masks = (try u32(h + 36), try u32(h + 40), try u32(h + 44), headerSize - 4 >= 52 ? try u32(h + 48) : 0)
            } else {
                masks = (try u32(position), try u32(position + 4), try u32(position + 8), 0)
                position += 12
            }
        }
    }
    if colors == 0 { colors = 1 << min(bits, 40) }
    if offset == 14 + headerSize && bits <= 8 { offset += 4 * colors }  // Pillow's fix for offsets at the palette

    // The pixel layout (Pillow's raw mode).
    enum Layout { case palette, bgr15, bgr16, bytes(r: Int, g: Int, b: Int, size: Int) }
    var layout: Layout
    switch bits {
    case 1, 4, 8: layout = .palette
    case 16: layout = .bgr15
    case 24: layout = .bytes(r: 2, g: 1, b: 0, size: 3)
    case 32: layout = .bytes(r: 2, g: 1, b: 0, size: 4)
    default: throw fail(.unsupported("BMP with \(bits) bits per pixel"))
    }
    var rle = false
    switch compression {
    case 0: break
    case 1, 2: rle = true
    case 3:
        switch (bits, masks.r, masks.g, masks.b, masks.a) {
        case (32, 0xFF0000, 0xFF00, 0xFF, 0), (32, 0xFF0000, 0xFF00, 0xFF, 0xFF00_0000), (32, 0, 0, 0, 0):
            layout = .bytes(r: 2, g: 1, b: 0, size: 4)  // BGRX, BGRA
        case (32, 0xFF00_0000, 0xFF0000, 0xFF00, 0), (32, 0xFF00_0000, 0xFF0000, 0xFF00, 0xFF):
            layout = .bytes(r: 3, g: 2, b: 1, size: 4)  // XBGR, ABGR
        case (32, 0xFF, 0xFF00, 0xFF0000, 0xFF00_0000):
            layout = .bytes(r: 0, g: 1, b: 2, size: 4)  // RGBA
        case (24, 0xFF0000, 0xFF00, 0xFF, _): layout = .bytes(r: 2, g: 1, b: 0, size: 3)
        case (16, 0xF800, 0x7E0, 0x1F, _): layout = .bgr16
        case (16, 0x7C00, 0x3E0, 0x1F, _): layout = .bgr15
        default:
            throw fail(
                .unsupported(
                    String(
                        format: "BMP bitfields layout (%d-bit, masks %X %X %X %X)",
                        bits, masks.r, masks.g, masks.b, masks.a)))
        }
    default: throw fail(.unsupported("BMP compression \(compression)"))
    }

    // Palette: read from where the header ended; grey ramps and black/white open as "L" / "1" (table above).
    enum Gray { case none, l, bilevel }
    var gray = Gray.none
    var palette = [UInt8](repeating: 0, count: 256 * 3)
    if case .palette = layout {
        guard colors > 0, colors <= 65536 else { throw fail(.corrupt("unsupported BMP palette size \(colors)")) }
        let available = max(0, min(colors * paletteEntryBytes, count - position))
        var isGray = true
        for i in 0..<colors {
            let value = UInt8(truncatingIfNeeded: colors == 2 ? (i == 0 ? 0 : 255) : i)
            let at = position + i * paletteEntryBytes
            if i * paletteEntryBytes + 3 > available
                || bytes[at] != value || bytes[at + 1] != value || bytes[at + 2] != value
            {
                isGray = false
                break
            }
        }
        if isGray {
            gray = colors == 2 ? .bilevel : .l
        } else {
            let entries = available / paletteEntryBytes
            guard entries <= 256 else { throw fail(.corrupt("BMP palette of \(colors) colours (at most 256)")) }
            for i in 0..<entries {
                let at = position + i * paletteEntryBytes
                palette[3 * i] = bytes[at + 2]; palette[3 * i + 1] = bytes[at + 1]; palette[3 * i + 2] = bytes[at]
            }
        }
        position += available
    } else if rle {
        throw fail(.unsupported("BMP run-length compression with \(bits) bits per pixel"))
    }

    guard width > 0, height > 0 else { throw fail(.corrupt("BMP of \(width)×\(height) pixels")) }
    let (pixelCount, overflow) = width.multipliedReportingOverflow(by: height)
    if overflow || pixelCount > ImageDecoder.maximumPixels {
        throw fail(.tooLarge(width: width, height: height))
    }
    if offset == 0 { offset = position }

    let stride = ((width * bits + 31) >> 3) & ~3
    // "1" and "L" read 1 or 8 bits a sample from each stored row, whatever the file's bit count.
    let sampleBits = gray == .bilevel ? 1 : gray == .l ? 8 : bits
    if !rle {
        guard (width * sampleBits + 7) / 8 <= stride else {
            throw fail(.corrupt("BMP rows of \(stride) bytes hold fewer than \(width) \(sampleBits)-bit samples"))
        }
        // Before the output is allocated: a damaged size field must not cost a large allocation.
        guard offset <= count, stride * height <= count - offset else { throw fail(.truncated) }
    }

    // The RLE stream is expanded first, so one that runs short is refused before the output is allocated.
    var rleIndices: [UInt8] = []
    if rle {
        let ranOut: Bool
        (rleIndices, ranOut) = try decodeBMPRLE(
            bytes, from: offset, width: width, height: height,
            rle4: compression == 2, source: source)
        // Short either way, as Pillow's "not enough image data"; a stream cut by the end of the file is truncated.
        guard rleIndices.count >= pixelCount else {
            throw fail(
                ranOut ? .truncated : .corrupt("not enough image data: the RLE stream ends before the last pixel"))
        }
    }

    var rgb = [UInt8](repeating: 0, count: pixelCount * 3)
    /// Writes image row `y` (top first) from 8-bit indices or grey levels.
    func putIndexed(_ row: (Int) -> Int, y: Int) {
        var o = y * width * 3
        for x in 0..<width {
            let v = row(x)
            if gray == .none {
                let p = 3 * v
                rgb[o] = palette[p]; rgb[o + 1] = palette[p + 1]; rgb[o + 2] = palette[p + 2]
            } else {
                let g = UInt8(truncatingIfNeeded: v)
                rgb[o] = g; rgb[o + 1] = g; rgb[o + 2] = g
            }
            o += 3
        }
    }

    if rle {
        let indices = rleIndices
        for y in 0..<height {
            // Rows are stored bottom-up unless the height says top-down (Pillow passes the direction to set_as_raw).
            let stored = topDown ? y : height - 1 - y
            let base = stored * width
            putIndexed({ gray == .bilevel ? (indices[base + $0] == 0 ? 0 : 255) : Int(indices[base + $0]) }, y: y)
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    for y in 0..<height {
        let row = offset + (topDown ? y : height - 1 - y) * stride
        var o = y * width * 3
        switch layout {
        case .palette:
            switch sampleBits {
            case 1:
                putIndexed(
                    { x in
                        let bit = Int(bytes[row + x >> 3] >> (7 - UInt8(x & 7))) & 1
                        return gray == .bilevel ? bit * 255 : bit
                    }, y: y)
            case 4: putIndexed({ x in Int(bytes[row + x >> 1] >> (x & 1 == 0 ? 4 : 0)) & 15 }, y: y)
            default: putIndexed({ x in Int(bytes[row + x]) }, y: y)
            }
        case .bgr15, .bgr16:
            let green565: Bool
            if case .bgr16 = layout { green565 = true } else { green565 = false }
            for x in 0..<width {
                let p = Int(bytes[row + 2 * x]) | Int(bytes[row + 2 * x + 1]) << 8
                // Pillow's ImagingUnpackBGR15 / BGR16: each field × 255 / its maximum, truncated.
                if green565 {
                    rgb[o] = UInt8((p >> 11 & 31) * 255 / 31)
                    rgb[o + 1] = UInt8((p >> 5 & 63) * 255 / 63)
                } else {
                    rgb[o] = UInt8((p >> 10 & 31) * 255 / 31)
                    rgb[o + 1] = UInt8((p >> 5 & 31) * 255 / 31)
                }
                rgb[o + 2] = UInt8((p & 31) * 255 / 31)
                o += 3
            }
        case .bytes(let r, let g, let b, let size):
            for x in 0..<width {
                let p = row + size * x
                rgb[o] = bytes[p + r]; rgb[o + 1] = bytes[p + g]; rgb[o + 2] = bytes[p + b]
                o += 3
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: rgb)
}

/// Pillow 10.x's `BmpRleDecoder.decode`, byte for byte: 8-bit samples (RLE4 nibbles expanded), stored rows
/// bottom-up, `width` samples a row. Stops at end-of-bitmap, at the end of the data, or once `width × height`
/// samples exist; the caller rejects a short result as Pillow's `set_as_raw` does. `ranOut`: the data ended first.
private func decodeBMPRLE(
    _ bytes: UnsafeRawBufferPointer, from start: Int, width: Int, height: Int,
    rle4: Bool, source: String
) throws -> (samples: [UInt8], ranOut: Bool) {
    let target = width * height
    var data = [UInt8]()
    var p = max(start, 0)
    let count = bytes.count
    var x = 0
    var ranOut = false
    while data.count < target {
        guard p + 1 < count else { ranOut = true; break }
        let n = Int(bytes[p]), code = bytes[p + 1]
        p += 2
        if n > 0 {
            // Encoded run, clipped at the end of the row.
            let run = x + n > width ? max(0, width - x) : n
            if rle4 {
                for i in 0..<run { data.append(i % 2 == 0 ? code >> 4 : code & 0x0F) }
            } else {
                data.append(contentsOf: repeatElement(code, count: run))
            }
            x += run
        } else if code == 0 {
            // End of line: pad the row with index 0 (in one append: a damaged width can make rows millions long).
            data.append(contentsOf: repeatElement(0, count: (width - data.count % width) % width))
            x = 0
        } else if code == 1 {
            break  // end of bitmap
        } else if code == 2 {
            // Delta. Pillow reads two bytes, checks them, then reads *two more* as (right, up).
            guard p + 2 <= count else { ranOut = true; break }
            p += 2
            guard p + 2 <= count else { throw ImageDecodingError(source: source, reason: .truncated) }
            let right = Int(bytes[p]), up = Int(bytes[p + 1])
            p += 2
            let skip = right + up * width
            // Pillow appends the zeros unbounded; more than the image holds changes nothing it keeps.
            data.append(contentsOf: repeatElement(0, count: min(skip, target + width - data.count)))
            x = data.count % width
        } else {
            // Absolute run of `code` samples; RLE4 reads code / 2 bytes (an odd count loses its last sample).
            let wanted = rle4 ? Int(code) / 2 : Int(code)
            let got = min(wanted, max(0, count - p))
            for i in 0..<got {
                let v = bytes[p + i]
                if rle4 { data.append(v >> 4); data.append(v & 0x0F) } else { data.append(v) }
            }
            p += got
            if got < wanted { ranOut = true; break }
            x += Int(code)
            if p % 2 != 0 { p += 1 }  // word alignment, counted from the start of the file
        }
    }
    return (data, ranOut)
}
