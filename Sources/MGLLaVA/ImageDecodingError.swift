/// Why an image could not be decoded. Every failure names its source (a file path, or the name the caller gave
/// in-memory bytes, e.g. an MMBench row index) so a bad sample in a million-image dataset can be found.
public struct ImageDecodingError: Error, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Equatable, Sendable {
        /// The file could not be read: it does not exist, is a directory or not a regular file (a device, a FIFO),
        /// a symbolic-link loop, permissions…
        case unreadable(String)
        /// Zero bytes.
        case empty
        /// Base64 text that does not decode.
        case invalidBase64
        /// None of the supported formats; `signature` shows the first bytes in hex.
        case unknownFormat(signature: String)
        /// A known format, or a variant of one, this decoder does not handle (HEIF, 12-bit JPEG, BMP with JPEG data…).
        case unsupported(String)
        /// More than `ImageDecoder.maximumPixels` pixels (PIL's DecompressionBombError); refused from the header.
        case tooLarge(width: Int, height: Int)
        /// The data ends before the image does (PIL: "image file is truncated").
        case truncated
        /// The codec rejected the data (bad markers or chunks, zero width or height…); the codec's message.
        case corrupt(String)
        /// The decoder thread could not be started (resource exhaustion).
        case systemResources
    }

    public let source: String
    public let reason: Reason

    public init(source: String, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    public var description: String {
        let why: String
        switch reason {
        case .unreadable(let message): why = "cannot read the file (\(message))"
        case .empty: why = "empty file"
        case .invalidBase64: why = "invalid base64 image data"
        case .unknownFormat(let signature):
            why =
                "unknown image format (first bytes \(signature); supported: "
                + "\(ImageDecoder.supportedFormats.joined(separator: ", ")))"
        case .unsupported(let what): why = "unsupported image: \(what)"
        case .tooLarge(let w, let h):
            // Two 32-bit sizes (TIFF, BMP) can multiply past Int.max.
            let (product, overflow) = w.multipliedReportingOverflow(by: h)
            let pixels = overflow ? "more than \(Int.max)" : "\(product)"
            why = "\(w)×\(h) = \(pixels) pixels exceeds the limit of \(ImageDecoder.maximumPixels) (decompression bomb)"
        case .truncated: why = "truncated image data"
        case .corrupt(let message): why = "corrupt image data: \(message)"
        case .systemResources: why = "could not start a decoder thread"
        }
        return "image \(source): \(why)"
    }
}
