import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// Decoding parity with Pillow's `Image.open(f).convert('RGB')` on the fixture photos (an RGB JPEG, an RGBA PNG,
/// a grayscale JPEG), and Pillow's per-mode conversions on generated PNGs.
final class ImageDecodingTests: XCTestCase {
    func testFixturePhotosMatchPillow() throws {
        for (index, name) in PreprocessFixture.photos.enumerated() {
            let decoded = try ImageDecoder.decode(contentsOf: PreprocessFixture.url(name))
            let expected = try PreprocessFixture.pillowRGB(photo: index)
            XCTAssertEqual(decoded.width, expected.width, name)
            XCTAssertEqual(decoded.height, expected.height, name)
            let diff = pixelDifference(decoded, expected)
            print("decode \(name): max |diff| \(diff.max), \(diff.count) of \(decoded.pixels.count) bytes differ")
            // PNG is lossless; for JPEG, libjpeg-turbo with Pillow's settings (ISLOW, fancy upsampling) is exact too.
            XCTAssertEqual(diff.max, 0, "\(name) differs from Pillow's decode")
        }
    }

    func testBase64AndBytesDecodeLikeTheFile() throws {
        let url = PreprocessFixture.url("photo1.png")
        let data = try Data(contentsOf: url)
        let fromFile = try ImageDecoder.decode(contentsOf: url)
        XCTAssertEqual(try ImageDecoder.decode(data, source: "bytes"), fromFile)
        // MMBench stores base64 text; Python's b64decode skips line breaks.
        let wrapped = data.base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed])
        XCTAssertEqual(try ImageDecoder.decode(base64: wrapped, source: "mmbench row 7"), fromFile)
    }

    func testConcurrentDecodes() throws {
        let url = PreprocessFixture.url("photo0.jpg")
        let reference = try ImageDecoder.decode(contentsOf: url)
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 8)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            results[i] = (try? ImageDecoder.decode(contentsOf: url)) == reference
        }
        XCTAssertTrue(results.allSatisfy { $0 })
    }

    // MARK: - PNG modes (expected values follow Pillow's unpackers and Convert.c)

    /// Decodes a generated PNG and returns its RGB triples.
    private func rgb(_ data: Data, file: StaticString = #filePath, line: UInt = #line) throws -> [[UInt8]] {
        let image = try ImageDecoder.decode(data, source: "generated.png")
        return stride(from: 0, to: image.pixels.count, by: 3).map { Array(image.pixels[$0..<($0 + 3)]) }
    }

    func testPNGGrayscaleDepths() throws {
        // 1-bit "1": 0/255.  2-bit "L;2": ×0x55.  4-bit "L;4": ×0x11.
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 4, height: 1, bitDepth: 1, colorType: 0, scanlines: [[0b1010_0000]])),
            [[255, 255, 255], [0, 0, 0], [255, 255, 255], [0, 0, 0]])
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 4, height: 1, bitDepth: 2, colorType: 0, scanlines: [[0b0001_1011]])),
            [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]])
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 3, height: 1, bitDepth: 4, colorType: 0, scanlines: [[0x0F, 0x70]])),
            [[0, 0, 0], [255, 255, 255], [119, 119, 119]])
        // 8-bit with a tRNS colour: the transparency is ignored by convert('RGB').
        XCTAssertEqual(
            try rgb(
                PNGWriter.png(
                    width: 2, height: 1, bitDepth: 8, colorType: 0, transparency: [0, 9],
                    scanlines: [[9, 200]])),
            [[9, 9, 9], [200, 200, 200]])
    }

    func testPNG16BitGrayIsClippedNotShifted() throws {
        // "I;16" → RGB clips at 255: 0x00C8 → 200, 0x0100 → 255, 0xFFFF → 255, 0x00FF → 255.
        let line: [UInt8] = [0x00, 0xC8, 0x01, 0x00, 0xFF, 0xFF, 0x00, 0xFF]
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 4, height: 1, bitDepth: 16, colorType: 0, scanlines: [line])),
            [[200, 200, 200], [255, 255, 255], [255, 255, 255], [255, 255, 255]])
    }

    func testPNG16BitColourAndGrayAlphaTakeTheHighByte() throws {
        // RGB;16B / RGBA;16B / LA;16B unpack the most significant byte.
        let rgb16: [UInt8] = [0x12, 0xFF, 0x34, 0x00, 0xAB, 0x80]
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 1, height: 1, bitDepth: 16, colorType: 2, scanlines: [rgb16])),
            [[0x12, 0x34, 0xAB]])
        let rgba16: [UInt8] = [0x01, 0x99, 0x02, 0x99, 0x03, 0x99, 0x00, 0x00]
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 1, height: 1, bitDepth: 16, colorType: 6, scanlines: [rgba16])),
            [[1, 2, 3]])
        let la16: [UInt8] = [0x7E, 0xFF, 0x00, 0x10]
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 1, height: 1, bitDepth: 16, colorType: 4, scanlines: [la16])),
            [[0x7E, 0x7E, 0x7E]])
    }

    func testPNGAlphaIsDroppedWithoutCompositing() throws {
        XCTAssertEqual(
            try rgb(
                PNGWriter.png(
                    width: 2, height: 1, bitDepth: 8, colorType: 6,
                    scanlines: [[10, 20, 30, 0, 40, 50, 60, 128]])),
            [[10, 20, 30], [40, 50, 60]])
        XCTAssertEqual(
            try rgb(PNGWriter.png(width: 2, height: 1, bitDepth: 8, colorType: 4, scanlines: [[77, 0, 99, 255]])),
            [[77, 77, 77], [99, 99, 99]])
    }

    func testPNGPaletteLookupWithShortPaletteAndTransparency() throws {
        // Two palette entries and a tRNS; index 3 lies past the palette: Pillow's palette is zero there.
        let palette: [UInt8] = [255, 0, 0, 0, 0, 255]
        XCTAssertEqual(
            try rgb(
                PNGWriter.png(
                    width: 4, height: 1, bitDepth: 2, colorType: 3, palette: palette,
                    transparency: [0, 128], scanlines: [[0b0001_1011]])),
            [[255, 0, 0], [0, 0, 255], [0, 0, 0], [0, 0, 0]])
        let wide: [UInt8] = (0..<256).flatMap { i -> [UInt8] in [UInt8(i), UInt8(255 - i), 7] }
        XCTAssertEqual(
            try rgb(
                PNGWriter.png(
                    width: 3, height: 1, bitDepth: 8, colorType: 3, palette: wide,
                    scanlines: [[0, 200, 255]])),
            [[0, 255, 7], [200, 55, 7], [255, 0, 7]])
    }

    func testPNGInterlacedMatchesProgressive() throws {
        let w = 11, h = 7
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { [UInt8(x * 20), UInt8(y * 30), UInt8((x * y) % 256)] }
        let plain = PNGWriter.png(
            width: w, height: h, bitDepth: 8, colorType: 2,
            scanlines: (0..<h).map { y in (0..<w).flatMap { pixel($0, y) } })
        let interlaced = PNGWriter.png(
            width: w, height: h, bitDepth: 8, colorType: 2, interlaced: true,
            scanlines: PNGWriter.adam7(width: w, height: h, pixel: pixel))
        let expected = (0..<h).flatMap { y in (0..<w).map { pixel($0, y) } }
        XCTAssertEqual(try rgb(plain), expected)
        XCTAssertEqual(try rgb(interlaced), expected)
    }
}
