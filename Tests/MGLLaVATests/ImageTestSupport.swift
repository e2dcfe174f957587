import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// The photos of Tests/Fixtures/preprocess (see that README row): files, Pillow's decode and the pipeline outputs.
enum PreprocessFixture {
    static let photos = ["photo0.jpg", "photo1.png", "photo2.jpg"]

    static func url(_ name: String) -> URL { Fixtures.url("preprocess/\(name)") }

    static func tensors(photo index: Int) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: url("photo\(index).safetensors"))
    }

    /// `input.decoded_raw` (what Pillow decoded: [H, W] for L, [H, W, 3|4]) converted as `convert('RGB')`
    /// does: L replicated, alpha dropped.
    static func pillowRGB(photo index: Int) throws -> RGBImage {
        let raw = try tensors(photo: index).tensor("input.decoded_raw")
        let bytes = bytesOf(raw)
        let h = raw.shape[0], w = raw.shape[1], channels = raw.rank == 2 ? 1 : raw.shape[2]
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) {
            for c in 0..<3 { rgb[3 * i + c] = bytes[i * channels + (channels == 1 ? 0 : c)] }
        }
        return RGBImage(width: w, height: h, pixels: rgb)
    }

    /// The bytes of a U8 tensor.
    static func bytesOf(_ t: Tensor) -> [UInt8] {
        precondition(t.dtype == .uint8, "expected U8, got \(t.dtype)")
        return Array(UnsafeBufferPointer(start: t.storage.pointer.assumingMemoryBound(to: UInt8.self), count: t.count))
    }
}

/// Largest per-byte difference of two equally sized images, and how many bytes differ.
func pixelDifference(_ a: RGBImage, _ b: RGBImage) -> (max: Int, count: Int) {
    precondition(a.width == b.width && a.height == b.height, "sizes differ")
    var worst = 0, count = 0
    for (x, y) in zip(a.pixels, b.pixels) where x != y {
        worst = max(worst, abs(Int(x) - Int(y)))
        count += 1
    }
    return (worst, count)
}

// MARK: - A minimal PNG writer, to produce every colour type and bit depth Pillow distinguishes

enum PNGWriter {
    /// A PNG of `width × height` from its scanlines (packed sample bytes, without the filter byte; for an
    /// interlaced image the Adam7 pass lines from `adam7`), colour type and bit depth as given; `palette` and
    /// `transparency` add PLTE and tRNS chunks.
    static func png(
        width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, interlaced: Bool = false,
        palette: [UInt8]? = nil, transparency: [UInt8]? = nil, scanlines: [[UInt8]]
    ) -> Data {
        var data = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data()
        ihdr.append(bigEndian: UInt32(width)); ihdr.append(bigEndian: UInt32(height))
        ihdr.append(contentsOf: [bitDepth, colorType, 0, 0, interlaced ? 1 : 0])
        data.append(chunk: "IHDR", ihdr)
        if let palette { data.append(chunk: "PLTE", Data(palette)) }
        if let transparency { data.append(chunk: "tRNS", Data(transparency)) }
        var raw = [UInt8]()
        for line in scanlines { raw.append(0); raw.append(contentsOf: line) }
        data.append(chunk: "IDAT", zlibStored(raw))
        data.append(chunk: "IEND", Data())
        return data
    }

    /// Adam7 pass lines for an image of whole-byte pixels, `pixel(x, y)` giving each pixel's sample bytes.
    static func adam7(width: Int, height: Int, pixel: (Int, Int) -> [UInt8]) -> [[UInt8]] {
        let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        var lines: [[UInt8]] = []
        for (x0, y0, dx, dy) in passes {
            guard x0 < width, y0 < height else { continue }
            for y in stride(from: y0, to: height, by: dy) {
                var line: [UInt8] = []
                for x in stride(from: x0, to: width, by: dx) { line += pixel(x, y) }
                lines.append(line)
            }
        }
        return lines
    }

    /// A zlib stream of stored (uncompressed) deflate blocks.
    static func zlibStored(_ bytes: [UInt8]) -> Data {
        var out = Data([0x78, 0x01])
        var offset = 0
        repeat {
            let n = min(65535, bytes.count - offset)
            out.append(offset + n == bytes.count ? 1 : 0)
            out.append(UInt8(n & 0xFF)); out.append(UInt8(n >> 8))
            out.append(UInt8(~n & 0xFF)); out.append(UInt8((~n >> 8) & 0xFF))
            out.append(contentsOf: bytes[offset..<(offset + n)])
            offset += n
        } while offset < bytes.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        out.append(bigEndian: (b << 16) | a)
        return out
    }

    static func crc32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }
}

extension Data {
    mutating func append(bigEndian value: UInt32) {
        append(contentsOf: [
            UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)
        ])
    }

    mutating func append(chunk type: String, _ body: Data) {
        append(bigEndian: UInt32(body.count))
        let typed = Data(type.utf8) + body
        append(typed)
        append(bigEndian: PNGWriter.crc32(typed))
    }
}

extension XCTestCase {
    /// Decodes `data` named `name`, expecting an `ImageDecodingError` that names it; returns its reason.
    @discardableResult
    func failure(
        _ data: Data, _ name: String, file: StaticString = #filePath, line: UInt = #line
    )
        -> ImageDecodingError.Reason?
    {
        do {
            let image = try ImageDecoder.decode(data, source: name)
            XCTFail(
                "\(name): decoded a \(image.width)×\(image.height) image, expected an error", file: file, line: line)
            return nil
        } catch let error as ImageDecodingError {
            XCTAssertEqual(error.source, name, file: file, line: line)
            XCTAssertTrue(error.description.contains(name), "\(error) does not name the source", file: file, line: line)
            return error.reason
        } catch {
            XCTFail("\(name): unexpected error type \(error)", file: file, line: line)
            return nil
        }
    }
}
