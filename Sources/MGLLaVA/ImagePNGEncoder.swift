import CImageCodecs
import Foundation

/// Why an image could not be encoded.
public struct ImageEncodingError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { "PNG encoding failed: \(reason)" }
}

extension RGBImage {
    /// The image as an 8-bit RGB PNG, encoded by libpng's simplified write API (which reports errors through the
    /// `png_image` struct instead of longjmp, so it is safe to call from Swift on any thread).
    public func pngData() throws -> Data {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw ImageEncodingError(reason: "\(width)×\(height) image with \(pixels.count) bytes")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR)  // PNG_FORMAT_RGB
        let stride = Int32(width * 3)
        return try pixels.withUnsafeBytes { raw -> Data in
            // First call measures, second writes (the documented two-pass use of png_image_write_to_memory).
            var size = 0
            guard png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, stride, nil) != 0, size > 0 else {
                throw ImageEncodingError(reason: Self.message(of: &image))
            }
            var out = [UInt8](repeating: 0, count: size)
            let ok = out.withUnsafeMutableBytes { buffer in
                png_image_write_to_memory(&image, buffer.baseAddress, &size, 0, raw.baseAddress, stride, nil)
            }
            png_image_free(&image)
            guard ok != 0 else { throw ImageEncodingError(reason: Self.message(of: &image)) }
            return Data(out.prefix(size))
        }
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "libpng gave no reason" : String(decoding: bytes, as: UTF8.self)
        }
    }
}
