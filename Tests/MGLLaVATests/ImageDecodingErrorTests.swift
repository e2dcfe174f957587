import Foundation
import XCTest
import MGLLaVA

/// Bad inputs throw `ImageDecodingError` naming the source and the reason; none may crash or hang the process
/// (libjpeg's and libpng's fatal-error paths end the decoder thread instead of exiting).
final class ImageDecodingErrorTests: XCTestCase {
    private var jpeg: Data { get throws { try Data(contentsOf: PreprocessFixture.url("photo0.jpg")) } }
    private var png: Data { get throws { try Data(contentsOf: PreprocessFixture.url("photo1.png")) } }

    /// Byte offset of the first SOF0/SOF2 marker segment (its length field starts 2 bytes later).
    private func startOfFrame(_ data: Data) -> Int? {
        let b = [UInt8](data)
        var i = 2
        while i + 3 < b.count {
            guard b[i] == 0xFF else { return nil }
            if b[i + 1] == 0xC0 || b[i + 1] == 0xC2 { return i }
            i += 2 + Int(b[i + 2]) << 8 + Int(b[i + 3])
        }
        return nil
    }

    /// photo0.jpg with its frame header claiming `width × height`.
    private func jpegClaiming(width: Int, height: Int) throws -> Data {
        var data = try jpeg
        let sof = try XCTUnwrap(startOfFrame(data))
        // SOF: FF Cx, length (2), precision (1), height (2), width (2), …
        data[sof + 5] = UInt8(height >> 8); data[sof + 6] = UInt8(height & 0xFF)
        data[sof + 7] = UInt8(width >> 8); data[sof + 8] = UInt8(width & 0xFF)
        return data
    }

    /// A PNG signature + IHDR for `width × height` RGB with a valid CRC, then nothing.
    private func pngHeader(width: UInt32, height: UInt32) -> Data {
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(bigEndian: width); ihdr.append(bigEndian: height)
        ihdr.append(contentsOf: [8, 2, 0, 0, 0])
        data.append(chunk: "IHDR", ihdr)
        return data
    }

    func testEmptyMissingAndUnknownInputs() throws {
        XCTAssertEqual(failure(Data(), "empty.jpg"), .empty)
        XCTAssertEqual(
            failure(Data("just some text, not an image".utf8), "notes.txt"),
            .unknownFormat(signature: "6a 75 73 74 20 73 6f 6d"))
        // GIF is decoded now: a bare header is a truncated file (ImageFormatParityTests covers the rest).
        XCTAssertEqual(failure(Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8), "anim.gif"), .truncated)
        let missing = URL(fileURLWithPath: "/nonexistent/dir/image.jpg")
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: missing)) { error in
            guard let e = error as? ImageDecodingError, case .unreadable = e.reason else {
                return XCTFail("expected unreadable, got \(error)")
            }
            XCTAssertTrue(e.description.contains("/nonexistent/dir/image.jpg"))
        }
        // Bad padding fails as Python's b64decode does; text of only non-alphabet characters decodes to nothing.
        XCTAssertThrowsError(try ImageDecoder.decode(base64: "abc", source: "row 3")) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.reason, .invalidBase64)
        }
        XCTAssertThrowsError(try ImageDecoder.decode(base64: "!!!!", source: "row 4")) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.reason, .empty)
        }
    }

    func testTruncatedJPEG() throws {
        let data = try jpeg
        XCTAssertEqual(failure(data.prefix(data.count / 2), "half.jpg"), .truncated)
        XCTAssertEqual(failure(data.prefix(120), "header-only.jpg"), .truncated)
        XCTAssertEqual(failure(data.prefix(3), "magic-only.jpg"), .truncated)
    }

    func testCorruptJPEG() throws {
        var data = try jpeg
        let sof = try XCTUnwrap(startOfFrame(data))
        data[sof + 2] = 0; data[sof + 3] = 3  // impossible segment length
        guard case .corrupt(let message)? = failure(data, "bad-sof.jpg") else { return XCTFail("expected corrupt") }
        XCTAssertFalse(message.isEmpty)

        // JPEG magic then noise: libjpeg gives up on the marker structure.
        var noise = Data([0xFF, 0xD8, 0xFF])
        var state: UInt32 = 12345
        for _ in 0..<4000 {
            state = state &* 1_103_515_245 &+ 12345
            noise.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        failure(noise, "noise.jpg")

        // Garbage over the entropy-coded data decodes (libjpeg warns, Pillow ignores warnings) — no crash.
        var scrambled = try jpeg
        for i in stride(from: scrambled.count / 2, to: scrambled.count - 2, by: 7) { scrambled[i] = 0xA5 }
        _ = try? ImageDecoder.decode(scrambled, source: "scrambled.jpg")
    }

    func testZeroSizeJPEGAndPNG() throws {
        guard case .corrupt? = failure(try jpegClaiming(width: 301, height: 0), "zero-height.jpg") else {
            return XCTFail("expected corrupt")
        }
        // libpng: "Invalid IHDR data" (after a warning that the width is zero).
        guard case .corrupt(let message)? = failure(pngHeader(width: 0, height: 5), "zero-width.png") else {
            return XCTFail("expected corrupt")
        }
        XCTAssertTrue(message.contains("IHDR"), message)
    }

    func testDecompressionBombIsRefusedFromTheHeader() throws {
        // 13400² = 179,560,000 > 178,956,970; the files hold no pixel data for that size, so a decoder that went
        // on would report truncation instead.
        XCTAssertEqual(
            failure(try jpegClaiming(width: 13400, height: 13400), "bomb.jpg"),
            .tooLarge(width: 13400, height: 13400))
        XCTAssertEqual(
            failure(pngHeader(width: 20000, height: 20000), "bomb.png"), .tooLarge(width: 20000, height: 20000))
        XCTAssertEqual(
            failure(pngHeader(width: 1, height: 178_956_971), "tall-bomb.png"),
            .tooLarge(width: 1, height: 178_956_971))
        XCTAssertEqual(ImageDecoder.maximumPixels, 178_956_970)
    }

    func testTruncatedPNG() throws {
        let data = try png
        XCTAssertEqual(failure(data.prefix(data.count * 3 / 5), "partial.png"), .truncated)
        XCTAssertEqual(failure(data.prefix(30), "header-cut.png"), .truncated)
        XCTAssertEqual(failure(pngHeader(width: 4, height: 4), "no-idat.png"), .truncated)
    }

    func testCorruptPNG() throws {
        // A flipped byte inside IDAT: CRC mismatch.
        var data = try png
        data[data.count / 2] ^= 0x40
        guard case .corrupt(let message)? = failure(data, "flipped.png") else { return XCTFail("expected corrupt") }
        XCTAssertFalse(message.isEmpty)

        // A bad IHDR checksum.
        var header = try png
        header[29] ^= 0xFF
        guard case .corrupt? = failure(header, "bad-ihdr-crc.png") else { return XCTFail("expected corrupt") }

        // Valid chunks, invalid zlib data.
        var bad = pngHeader(width: 2, height: 2)
        bad.append(chunk: "IDAT", Data([0x78, 0x01, 0xFF, 0xFF, 0xFF, 0x00, 0x13]))
        bad.append(chunk: "IEND", Data())
        guard case .corrupt? = failure(bad, "bad-zlib.png") else { return XCTFail("expected corrupt") }

        // An invalid colour type / depth combination.
        var combo = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(bigEndian: 2); ihdr.append(bigEndian: 2)
        ihdr.append(contentsOf: [3, 2, 0, 0, 0])  // 3-bit RGB does not exist
        combo.append(chunk: "IHDR", ihdr)
        guard case .corrupt? = failure(combo, "bad-depth.png") else { return XCTFail("expected corrupt") }
    }

    func testManyFailuresInARowLeaveTheProcessHealthy() throws {
        let data = try jpeg
        for i in 0..<200 { failure(data.prefix(200 + i), "cut-\(i).jpg") }
        XCTAssertNoThrow(try ImageDecoder.decode(data, source: "photo0.jpg"))
    }
}
