/// An 8-bit RGB image: what `PIL.Image.open(f).convert('RGB')` holds, and what the preprocessing consumes.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// Row-major, interleaved R, G, B: `width × height × 3` bytes.
    public var pixels: [UInt8]

    /// Wraps existing pixels; `pixels.count` must be `width × height × 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(
            width >= 0 && height >= 0 && pixels.count == width * height * 3,
            "RGBImage: \(pixels.count) bytes for \(width)×\(height)×3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width × height` image filled with one colour.
    public init(width: Int, height: Int, fill: RGBColor) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)×\(height)")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = fill.red; pixels[i + 1] = fill.green; pixels[i + 2] = fill.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The colour at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> RGBColor {
        let i = (y * width + x) * 3
        return RGBColor(red: pixels[i], green: pixels[i + 1], blue: pixels[i + 2])
    }
}

/// An 8-bit RGB colour.
public struct RGBColor: Equatable, Hashable, Sendable {
    public var red: UInt8, green: UInt8, blue: UInt8
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red; self.green = green; self.blue = blue
    }
}
