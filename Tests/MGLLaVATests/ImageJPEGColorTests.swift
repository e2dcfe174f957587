import CImageCodecs
import Foundation
import XCTest
import MGLLaVA

/// JPEG colour spaces Pillow distinguishes, on flat images written with libjpeg at quality 100 (flat blocks then
/// decode to exactly the written samples, so the expected RGB follows from Pillow's formulas by hand).
final class ImageJPEGColorTests: XCTestCase {
    /// Writes a `size × size` JPEG of one repeated pixel with libjpeg (default error handler: inputs are valid).
    private func flatJPEG(
        pixel: [UInt8], inputSpace: J_COLOR_SPACE, fileSpace: J_COLOR_SPACE? = nil,
        size: Int = 16
    ) -> Data {
        let cinfo = UnsafeMutablePointer<jpeg_compress_struct>.allocate(capacity: 1)
        let jerr = UnsafeMutablePointer<jpeg_error_mgr>.allocate(capacity: 1)
        let buffer = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 1)
        let length = UnsafeMutablePointer<UInt>.allocate(capacity: 1)
        defer { cinfo.deallocate(); jerr.deallocate(); buffer.deallocate(); length.deallocate() }
        cinfo.initialize(to: jpeg_compress_struct())
        buffer.initialize(to: nil)
        length.initialize(to: 0)
        cinfo.pointee.err = jpeg_std_error(jerr)
        jpeg_CreateCompress(cinfo, JPEG_LIB_VERSION, MemoryLayout<jpeg_compress_struct>.size)
        jpeg_mem_dest(cinfo, buffer, length)
        cinfo.pointee.image_width = JDIMENSION(size)
        cinfo.pointee.image_height = JDIMENSION(size)
        cinfo.pointee.input_components = Int32(pixel.count)
        cinfo.pointee.in_color_space = inputSpace
        jpeg_set_defaults(cinfo)
        if let fileSpace { jpeg_set_colorspace(cinfo, fileSpace) }
        jpeg_set_quality(cinfo, 100, 1)
        jpeg_start_compress(cinfo, 1)
        var row = [UInt8]((0..<size).flatMap { _ in pixel })
        row.withUnsafeMutableBufferPointer { rowBuffer in
            var rowPointer: JSAMPROW? = rowBuffer.baseAddress
            for _ in 0..<size { _ = jpeg_write_scanlines(cinfo, &rowPointer, 1) }
        }
        jpeg_finish_compress(cinfo)
        jpeg_destroy_compress(cinfo)
        guard let bytes = buffer.pointee else { return Data() }
        defer { free(bytes) }
        return Data(bytes: bytes, count: Int(length.pointee))
    }

    private func uniformColour(_ data: Data, _ name: String) throws -> [UInt8] {
        let image = try ImageDecoder.decode(data, source: name)
        XCTAssertEqual(image.width, 16)
        let first = Array(image.pixels[0..<3])
        XCTAssertTrue(
            stride(from: 0, to: image.pixels.count, by: 3).allSatisfy { Array(image.pixels[$0..<($0 + 3)]) == first })
        return first
    }

    func testGrayscaleIsReplicated() throws {
        XCTAssertEqual(
            try uniformColour(flatJPEG(pixel: [173], inputSpace: JCS_GRAYSCALE), "gray.jpg"), [173, 173, 173])
    }

    func testRGBStoredAsRGB() throws {
        // Adobe transform 0 (no YCbCr): libjpeg's colour guess keeps RGB.
        let data = flatJPEG(pixel: [12, 200, 99], inputSpace: JCS_RGB, fileSpace: JCS_RGB)
        XCTAssertEqual(try uniformColour(data, "rgb.jpg"), [12, 200, 99])
    }

    func testTwoComponentJPEGIsUnsupported() {
        // Pillow: "cannot handle 2-layer images".
        let data = flatJPEG(pixel: [1, 2], inputSpace: JCS_UNKNOWN)
        XCTAssertThrowsError(try ImageDecoder.decode(data, source: "two.jpg")) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.reason, .unsupported("JPEG with 2 components"))
        }
    }

    func testCMYKIsReadAsAdobeInverted() throws {
        // Stored samples (225, 155, 55, 205): Pillow inverts them ("CMYK;I") to C,M,Y,K = (30, 100, 200, 50), then
        // cmyk2rgb: nk = 205; R = 205 − MULDIV255(30, 205) = 181, G = 205 − 80 = 125, B = 205 − 161 = 44.
        let cmyk = flatJPEG(pixel: [225, 155, 55, 205], inputSpace: JCS_CMYK)
        XCTAssertEqual(try uniformColour(cmyk, "cmyk.jpg"), [181, 125, 44])
        // YCCK (Adobe transform 2): libjpeg converts back to CMYK (±1 from the YCC round trip), then the same rule.
        let ycck = try uniformColour(
            flatJPEG(pixel: [225, 155, 55, 205], inputSpace: JCS_CMYK, fileSpace: JCS_YCCK),
            "ycck.jpg")
        for (got, want) in zip(ycck, [181, 125, 44]) { XCTAssertLessThanOrEqual(abs(Int(got) - want), 1, "\(ycck)") }
    }
}
