import Foundation

/// Decodes JPEG and PNG files to 8-bit RGB exactly as `PIL.Image.open(f).convert('RGB')` does (the loader of
/// every MG-LLaVA dataset): grayscale replicated, alpha dropped without compositing, palettes looked up, CMYK
/// converted the Adobe way, 16-bit samples reduced as Pillow reduces them. EXIF orientation and ICC profiles are
/// ignored, as Pillow ignores them on open.
///
/// Failures throw `ImageDecodingError` naming the source and the reason; corrupt data never crashes the process.
public enum ImageDecoder {
    /// Pillow's DecompressionBombError threshold: 2 × `Image.MAX_IMAGE_PIXELS` (89,478,485). Larger images are
    /// refused from their header, before any pixel is decoded.
    public static let maximumPixels = 2 * 89_478_485

    /// Decodes the file at `url`.
    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw ImageDecodingError(source: url.path, reason: .unreadable(error.localizedDescription))
        }
        return try decode(data, source: url.path)
    }

    /// Decodes in-memory file bytes; `source` names them in errors (a path, a dataset index…).
    public static func decode(_ data: Data, source: String) throws -> RGBImage {
        try data.withUnsafeBytes { try decode(bytes: $0, source: source) }
    }

    /// Decodes base64 text of an image file, as MMBench-style TSVs store images (Python's `b64decode`:
    /// characters outside the base64 alphabet, such as line breaks, are skipped).
    public static func decode(base64 text: String, source: String) throws -> RGBImage {
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
            throw ImageDecodingError(source: source, reason: .invalidBase64)
        }
        return try decode(data, source: source)
    }

    /// Decodes file bytes; `source` names them in errors.
    public static func decode(bytes: UnsafeRawBufferPointer, source: String) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageDecodingError(source: source, reason: .empty) }
        switch ImageFileFormat(signature: bytes) {
        case .jpeg: return try decodeJPEG(bytes, source: source)
        case .png: return try decodePNG(bytes, source: source)
        case .other(let name): throw ImageDecodingError(source: source, reason: .unsupported("\(name) file"))
        case .unknown:
            let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageDecodingError(source: source, reason: .unknownFormat(signature: head))
        }
    }
}

/// The container format, told from the leading bytes as Pillow's `_accept` functions tell it (the file
/// extension is never consulted: datasets hold PNGs named .jpg).
enum ImageFileFormat: Equatable {
    case jpeg, png
    /// Recognised but not decoded here.
    case other(String)
    case unknown

    init(signature bytes: UnsafeRawBufferPointer) {
        func starts(with prefix: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + prefix.count else { return false }
            for (i, b) in prefix.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        if starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if starts(with: Array("GIF87a".utf8)) || starts(with: Array("GIF89a".utf8)) {
            self = .other("GIF")
        } else if starts(with: Array("RIFF".utf8)) && starts(with: Array("WEBP".utf8), at: 8) {
            self = .other("WebP")
        } else if starts(with: Array("BM".utf8)) {
            self = .other("BMP")
        } else if starts(with: [0x49, 0x49, 0x2A, 0x00]) || starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            self = .other("TIFF")
        } else {
            self = .unknown
        }
    }
}
