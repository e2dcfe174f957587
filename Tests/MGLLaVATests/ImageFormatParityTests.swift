import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import XCTest
import MGLLaVA
import MGTestSupport

private extension Array {
    func repeated(_ n: Int) -> [Element] { Array((0..<n).map { _ in self }.joined()) }
}

/// WebP, GIF, BMP and TIFF decode exactly as Pillow 10.4's `Image.open(f).convert('RGB')` does, on every file of
/// Tests/Fixtures/images (see that README row and scripts/fixtures/images/make_image_fixtures.py); cut and
/// mutated copies throw `ImageDecodingError` instead of crashing; paths that are not regular files are refused.
final class ImageFormatParityTests: XCTestCase {
    /// One row of expected.json: what Pillow decoded.
    struct Expected {
        let name: String
        let image: RGBImage
        /// Pillow's mode on open ("P", "L", "I;16", "RGBA"…), for messages.
        let mode: String
    }

    static func fixtureURL(_ name: String) -> URL { Fixtures.url("images/\(name)") }

    static func expected() throws -> [Expected] {
        let data = try Data(contentsOf: fixtureURL("expected.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try XCTUnwrap(json["files"] as? [String: [String: Any]])
        return try files.keys.sorted().map { name in
            let row = try XCTUnwrap(files[name])
            let width = try XCTUnwrap(row["width"] as? Int), height = try XCTUnwrap(row["height"] as? Int)
            let base64 = try XCTUnwrap(row["rgb"] as? String)
            let pixels = try XCTUnwrap(Data(base64Encoded: base64), "\(name): bad base64")
            XCTAssertEqual(pixels.count, width * height * 3, name)
            return Expected(
                name: name, image: RGBImage(width: width, height: height, pixels: [UInt8](pixels)),
                mode: row["mode"] as? String ?? "?")
        }
    }

    // MARK: - Parity

    func testEveryFixtureMatchesPillowExactly() throws {
        let rows = try Self.expected()
        // Every image in the folder is checked, and the table covers the four formats.
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.fixtureURL("").path)
            .filter { $0 != "expected.json" }.sorted()
        XCTAssertEqual(onDisk, rows.map(\.name))
        for prefix in ["webp-", "gif-", "bmp-", "tiff-"] {
            XCTAssertGreaterThanOrEqual(rows.filter { $0.name.hasPrefix(prefix) }.count, 5, prefix)
        }
        for row in rows {
            // A fixture of one flat colour would not tell a right decoder from a wrong one (1-bit files have 2).
            let colours = Set(
                stride(from: 0, to: row.image.pixels.count, by: 3).map {
                    Array(row.image.pixels[$0..<($0 + 3)])
                })
            XCTAssertGreaterThanOrEqual(colours.count, 2, "\(row.name): Pillow's decode is flat")

            let decoded: RGBImage
            do {
                decoded = try ImageDecoder.decode(contentsOf: Self.fixtureURL(row.name))
            } catch {
                XCTFail("\(row.name) (Pillow mode \(row.mode)): \(error)")
                continue
            }
            guard decoded.width == row.image.width, decoded.height == row.image.height else {
                XCTFail(
                    "\(row.name): \(decoded.width)×\(decoded.height), Pillow \(row.image.width)×\(row.image.height)")
                continue
            }
            // Exact, lossy files included: Pillow 10.4's libwebp / libjpeg and Debian's give the same samples on
            // these files (if a library update ever changes that, this is where it shows).
            let diff = pixelDifference(decoded, row.image)
            XCTAssertEqual(
                diff.count, 0,
                "\(row.name) (Pillow mode \(row.mode)): \(diff.count) of "
                    + "\(decoded.pixels.count) bytes differ from Pillow's, by up to \(diff.max)")
        }
    }

    func testInMemoryBytesDecodeLikeTheFile() throws {
        for row in try Self.expected() {
            let data = try Data(contentsOf: Self.fixtureURL(row.name))
            XCTAssertEqual(try ImageDecoder.decode(data, source: row.name), row.image, row.name)
        }
    }

    // MARK: - Damaged data

    func testFirstHalfOfEveryFixtureThrows() throws {
        // Files whose first image lies wholly in their first half: Pillow decodes those halves too.
        let firstImageInFirstHalf: Set = ["gif-animated.gif", "tiff-multipage.tiff"]
        for row in try Self.expected() {
            let data = try Data(contentsOf: Self.fixtureURL(row.name))
            let name = "half-of-\(row.name)", half = data.prefix(data.count / 2)
            if firstImageInFirstHalf.contains(row.name) {
                XCTAssertEqual(try ImageDecoder.decode(half, source: name), row.image, name)
                continue
            }
            // Pillow: "image file is truncated" (or, for RLE BMP, "not enough image data").
            XCTAssertEqual(failure(half, name), .truncated, name)
        }
    }

    func testEveryPrefixAndByteFlipFailsCleanly() throws {
        // No prefix and no single-byte change may crash, trap or hang; each either decodes (Pillow decodes some
        // damaged pixel data too) or throws ImageDecodingError. Deterministic, so a failure reproduces.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for row in try Self.expected() {
            let data = try Data(contentsOf: Self.fixtureURL(row.name))
            for length in stride(from: 0, to: data.count, by: max(1, data.count / 64)) {
                let name = "\(row.name)[..<\(length)]"
                do {
                    // A cut after the first image (a GIF's trailer, a TIFF's second page, an animation's later
                    // frames) is not needed, by Pillow either: then the image must be the whole file's.
                    let image = try ImageDecoder.decode(data.prefix(length), source: name)
                    XCTAssertEqual(image, row.image, "\(name) decoded to a different image")
                } catch {
                    XCTAssertTrue(error is ImageDecodingError, "\(name): \(error)")
                }
            }
            for _ in 0..<48 {
                var damaged = data
                let at = next() % data.count
                // An RLE BMP's width and height (bytes 18–25) are left alone: a damaged width can turn 13 pixels into
                // millions, which end-of-line codes then fill with zeros, a valid image that Pillow decodes too but
                // that takes seconds in a debug build.
                if row.name.hasPrefix("bmp-rle"), (18..<26).contains(at) { _ = next(); continue }
                damaged[at] ^= UInt8(truncatingIfNeeded: 1 + next() % 255)
                do {
                    _ = try ImageDecoder.decode(damaged, source: "\(row.name)@\(at)")
                } catch {
                    XCTAssertTrue(error is ImageDecodingError, "\(row.name)@\(at): \(error)")
                }
            }
        }
    }

    func testUnknownAndUnsupportedSignatures() throws {
        XCTAssertEqual(
            failure(Data([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]), "mystery.bin"),
            .unknownFormat(signature: "00 11 22 33 44 55 66 77"))
        XCTAssertEqual(
            failure(Data("RIFF\u{4}\u{0}\u{0}\u{0}WAVE".utf8), "sound.wav"),
            .unknownFormat(signature: "52 49 46 46 04 00 00 00"))
        let error = ImageDecodingError(source: "x", reason: .unknownFormat(signature: "00"))
        XCTAssertTrue(error.description.contains("WebP, GIF, BMP, TIFF"), error.description)
        // Recognised, still not decoded: said so, with the formats that are.
        guard case .unsupported(let what)? = failure(Data("8BPS\u{0}\u{1}".utf8), "layers.psd") else {
            return XCTFail("expected unsupported")
        }
        XCTAssertTrue(what.hasPrefix("Photoshop"), what)
        XCTAssertTrue(what.contains("TIFF"), what)
        guard case .unsupported? = failure(Data([0x49, 0x49, 0x2B, 0x00, 0x08, 0x00, 0x00, 0x00]), "big.tif") else {
            return XCTFail("expected unsupported BigTIFF")
        }
    }

    /// A 4×2 GIF, palette [(10, 20, 30), (200, 100, 50)], whose LZW data (minimum code size `codeSize`) holds
    /// `pixels` alternating indices 0, 1, … with a clear code before every second one, so the code width stays
    /// `codeSize + 1`; then EOI.
    private func tinyGIF(codeSize: Int, pixels: Int) -> Data {
        let clear = 1 << codeSize, width = codeSize + 1
        var codes: [Int] = []
        for i in 0..<pixels {
            if i % 2 == 0 { codes.append(clear) }
            codes.append(i % 2)
        }
        codes.append(clear + 1)
        var packed: [UInt8] = [], accumulator = 0, bits = 0
        for code in codes {
            accumulator |= code << bits; bits += width
            while bits >= 8 { packed.append(UInt8(accumulator & 0xFF)); accumulator >>= 8; bits -= 8 }
        }
        if bits > 0 { packed.append(UInt8(accumulator & 0xFF)) }
        var gif = Data("GIF89a".utf8) + Data([4, 0, 2, 0, 0x80, 0, 0, 10, 20, 30, 200, 100, 50])
        gif += Data([0x2C, 0, 0, 0, 0, 4, 0, 2, 0, 0, UInt8(codeSize), UInt8(packed.count)]) + Data(packed)
        return gif + Data([0, 0x3B])
    }

    func testGIFCodeSizesAndEarlyEndOfImage() throws {
        let expected = RGBImage(width: 4, height: 2, pixels: Array([[10, 20, 30], [200, 100, 50]].joined()).repeated(4))
        XCTAssertEqual(try ImageDecoder.decode(tinyGIF(codeSize: 2, pixels: 8), source: "cs2.gif"), expected)
        // Pillow 10.4 decodes minimum code sizes 9 to 12 too (the spec stops at 8); giflib does not, and the error
        // says so instead of giflib's "Failed to read from given file" (not reproduced).
        for codeSize in [9, 12] {
            guard case .unsupported(let what)? = failure(tinyGIF(codeSize: codeSize, pixels: 8), "cs\(codeSize).gif")
            else {
                XCTFail("code size \(codeSize): expected unsupported"); continue
            }
            XCTAssertTrue(what.contains("code size \(codeSize)"), what)
        }
        // An end-of-information code before the last pixel: Pillow 10.4 says "image file is truncated", so does this.
        XCTAssertEqual(failure(tinyGIF(codeSize: 2, pixels: 4), "early-eoi.gif"), .truncated)
    }

    func testDecompressionBombsAreRefusedFromTheHeader() throws {
        // 20000 × 20000 in each header and no pixel data: a decoder that went on would report truncation.
        var bmp = Data("BM".utf8) + Data(count: 12)
        bmp += Data([40, 0, 0, 0, 0x20, 0x4E, 0, 0, 0x20, 0x4E, 0, 0, 1, 0, 24, 0]) + Data(count: 24)
        XCTAssertEqual(failure(bmp, "bomb.bmp"), .tooLarge(width: 20000, height: 20000))
        var gif = Data("GIF89a".utf8) + Data([0x20, 0x4E, 0x20, 0x4E, 0, 0, 0])
        gif += Data([0x2C, 0, 0, 0, 0, 0x20, 0x4E, 0x20, 0x4E, 0, 8, 0])
        XCTAssertEqual(failure(gif, "bomb.gif"), .tooLarge(width: 20000, height: 20000))
    }

    /// A little-endian TIFF of one `bits`-bit grey strip with the given (tag, LONG value) entries added.
    private func tiffHeader(bits: UInt32 = 8, _ extra: [(UInt16, UInt32)]) -> Data {
        var entries: [(UInt16, UInt16, UInt32)] = [
            (258, 3, bits), (259, 3, 1), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (279, 4, 1)
        ]
        entries += extra.map { ($0.0, 4, $0.1) }
        entries.sort { $0.0 < $1.0 }
        var data = Data([0x49, 0x49, 0x2A, 0, 8, 0, 0, 0])
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        le(UInt16(entries.count))
        for (tag, type, value) in entries {
            le(tag); le(type); le(UInt32(1))
            if type == 3 { le(UInt16(value)); le(UInt16(0)) } else { le(value) }
        }
        le(UInt32(0))
        return data + Data([0x55])
    }

    func testTIFFSizesThatOverflowAreRefused() throws {
        // (2³² − 1)² pixels do not fit in an Int. At 8 bits libtiff itself refuses the strip size; at 1 bit it
        // does not, and the pixel limit must then be checked without overflowing.
        let huge = [(UInt16(256), UInt32(0xFFFF_FFFF)), (257, 0xFFFF_FFFF), (278, 0xFFFF_FFFF)]
        guard case .corrupt? = failure(tiffHeader(huge), "huge.tif") else { return XCTFail("expected corrupt") }
        XCTAssertEqual(
            failure(tiffHeader(bits: 1, huge), "huge-1bit.tif"),
            .tooLarge(width: 0xFFFF_FFFF, height: 0xFFFF_FFFF))
        // The same for a BMP (32-bit width, height below 0xFF000000), and the message survives the product.
        var bmp = Data("BM".utf8) + Data(count: 12)
        bmp += Data([40, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 1, 0, 24, 0]) + Data(count: 24)
        XCTAssertEqual(failure(bmp, "huge.bmp"), .tooLarge(width: 0xFFFF_FFFF, height: 0xFEFF_FFFF))
        let message = ImageDecodingError(source: "huge.bmp", reason: .tooLarge(width: 0xFFFF_FFFF, height: 0xFEFF_FFFF))
        XCTAssertTrue(message.description.contains("more than"), message.description)
        // A small image in enormous tiles: refused, without overflow.
        for bits: UInt32 in [1, 8] {
            let tiles = tiffHeader(
                bits: bits,
                [
                    (256, 4), (257, 4), (322, 0xFFFF_FFF0), (323, 0xFFFF_FFF0), (324, 0),
                    (325, 1)
                ])
            guard case .corrupt? = failure(tiles, "huge-tiles-\(bits).tif") else { return XCTFail("expected corrupt") }
        }
    }

    // MARK: - Paths that are not regular files

    /// `decode(contentsOf:)` on `path` must throw `.unreadable` whose reason contains `why`, within 10 s, with the
    /// path in the description.
    private func assertUnreadable(_ path: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) {
        // On a background thread, so a decoder that blocks (a FIFO without writer) fails the test, not hangs it.
        final class Box: @unchecked Sendable { var result: Result<RGBImage, Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.result = Result { try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: path)) }
            done.signal()
        }
        guard done.wait(timeout: .now() + 10) == .success, let result = box.result else {
            return XCTFail("\(path): still decoding after 10 s", file: file, line: line)
        }
        switch result {
        case .success(let image):
            XCTFail("\(path): decoded \(image.width)×\(image.height)", file: file, line: line)
        case .failure(let error):
            guard let e = error as? ImageDecodingError, case .unreadable(let reason) = e.reason else {
                return XCTFail("\(path): expected unreadable, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(e.source, path, file: file, line: line)
            XCTAssertTrue(
                reason.contains(why), "\(path): reason \"\(reason)\" lacks \"\(why)\"", file: file, line: line)
            XCTAssertTrue(
                e.description.contains(path) && e.description.contains(reason), e.description,
                file: file, line: line)
        }
    }

    func testPathsThatAreNotRegularFilesAreRefusedPromptly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-paths-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        assertUnreadable(dir.path, "is a directory")
        assertUnreadable("/dev/zero", "not a regular file (character device)")
        assertUnreadable(dir.appendingPathComponent("missing.png").path, "does not exist")

        let fifo = dir.appendingPathComponent("pipe.jpg").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, "mkfifo: \(String(cString: strerror(errno)))")
        assertUnreadable(fifo, "not a regular file (FIFO)")

        let a = dir.appendingPathComponent("loop-a.png").path, b = dir.appendingPathComponent("loop-b.png").path
        try FileManager.default.createSymbolicLink(atPath: a, withDestinationPath: b)
        try FileManager.default.createSymbolicLink(atPath: b, withDestinationPath: a)
        assertUnreadable(a, "symbolic links")

        let dangling = dir.appendingPathComponent("dangling.gif").path
        try FileManager.default.createSymbolicLink(
            atPath: dangling, withDestinationPath: dir.appendingPathComponent("gone").path)
        assertUnreadable(dangling, "does not exist")

        let underFile = Self.fixtureURL("gif-palette.gif").appendingPathComponent("inside.gif").path
        assertUnreadable(underFile, "not a directory")

        // A symbolic link to a good file is followed.
        let link = dir.appendingPathComponent("link.webp").path
        try FileManager.default.createSymbolicLink(
            atPath: link, withDestinationPath: Self.fixtureURL("webp-lossless-rgb.webp").path)
        XCTAssertEqual(
            try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: link)),
            try ImageDecoder.decode(contentsOf: Self.fixtureURL("webp-lossless-rgb.webp")))
        // An empty regular file is `.empty`, not unreadable.
        let empty = dir.appendingPathComponent("empty.bmp")
        try Data().write(to: empty)
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: empty)) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.reason, .empty)
        }
    }
}
