import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Decodes JPEG, PNG, WebP, GIF, BMP and TIFF files to 8-bit RGB exactly as `PIL.Image.open(f).convert('RGB')`
/// does (the loader of every MG-LLaVA dataset; Pillow 10.x rules): grayscale replicated, alpha dropped without
/// compositing, palettes looked up (entries past a palette's end are black), CMYK converted as Pillow converts it,
/// 16-bit samples reduced as Pillow reduces them, and of an animated or multi-page file only the first frame.
/// EXIF orientation and ICC profiles are ignored, as Pillow ignores them on open.
///
/// JPEG, PNG, WebP, GIF and TIFF go through Debian's libjpeg-turbo, libpng, libwebp, giflib and libtiff (see
/// `CImageCodecs`); BMP is read in Swift (ImageBMPDecoder.swift). Each format's file says which Pillow rule
/// each conversion reproduces, and what it does not reproduce.
///
/// Failures throw `ImageDecodingError` naming the source and the reason; corrupt data never crashes the process.
public enum ImageDecoder {
    /// Pillow's DecompressionBombError threshold: 2 × `Image.MAX_IMAGE_PIXELS` (89,478,485). Larger images are
    /// refused from their header, before any pixel is decoded.
    public static let maximumPixels = 2 * 89_478_485

    /// The formats `decode` reads, for error messages.
    public static let supportedFormats = ["JPEG", "PNG", "WebP", "GIF", "BMP", "TIFF"]

    /// Decodes the file at `url`. Only regular files are read (symbolic links followed): a directory, a device
    /// such as /dev/zero, a FIFO or a socket is refused from `fstat` before any byte is read, so nothing blocks
    /// or reads forever.
    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let data = try readRegularFile(url.path)
        return try decode(data, source: url.path)
    }

    /// The bytes of the regular file at `path`, or `.unreadable` with a plain reason. The file is opened
    /// non-blocking (opening a FIFO for reading would otherwise wait for a writer) and checked with `fstat` on the
    /// open descriptor, so the file checked is the file read.
    static func readRegularFile(_ path: String) throws -> Data {
        func fail(_ why: String) -> ImageDecodingError { ImageDecodingError(source: path, reason: .unreadable(why)) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw fail(describeErrno(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw fail(describeErrno(errno)) }
        let type = info.st_mode & S_IFMT
        guard type == S_IFREG else {
            if type == S_IFDIR { throw fail("is a directory") }
            let kind: String
            switch type {
            case S_IFCHR: kind = "character device"
            case S_IFBLK: kind = "block device"
            case S_IFIFO: kind = "FIFO"
            case S_IFSOCK: kind = "socket"
            default: kind = "file type \(String(type, radix: 8))"
            }
            throw fail("is not a regular file (\(kind))")
        }
        // Read what is there; a file that grows while read is read to its end, one that shrinks to its new end.
        var data = Data(capacity: max(0, Int(info.st_size)))
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, chunk)
            if n > 0 {
                data.append(buffer.assumingMemoryBound(to: UInt8.self), count: n)
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw fail(describeErrno(errno))
            }
        }
        return data
    }

    private static func describeErrno(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "it does not exist"
        case ELOOP: return "too many levels of symbolic links"
        case EACCES: return "permission denied"
        case ENOTDIR: return "a component of the path is not a directory"
        case EISDIR: return "is a directory"
        default: return String(cString: strerror(code))
        }
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
        case .webp: return try decodeWebP(bytes, source: source)
        case .gif: return try decodeGIF(bytes, source: source)
        case .bmp: return try decodeBMP(bytes, source: source)
        case .tiff: return try decodeTIFF(bytes, source: source)
        case .other(let name):
            throw ImageDecodingError(
                source: source,
                reason: .unsupported(
                    "\(name) file (supported: \(supportedFormats.joined(separator: ", ")))"))
        case .unknown:
            let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageDecodingError(source: source, reason: .unknownFormat(signature: head))
        }
    }
}

/// The container format, told from the leading bytes as Pillow's `_accept` functions tell it (the file
/// extension is never consulted: datasets hold PNGs named .jpg).
enum ImageFileFormat: Equatable {
    case jpeg, png, webp, gif, bmp, tiff
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
            self = .gif
        } else if starts(with: Array("RIFF".utf8)) && starts(with: Array("WEBP".utf8), at: 8) {
            self = .webp
        } else if starts(with: Array("BM".utf8)) {
            self = .bmp
        } else if starts(with: [0x49, 0x49, 0x2A, 0x00]) || starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            self = .tiff
        } else if starts(with: Array("II+\u{0}".utf8)) || starts(with: Array("MM\u{0}+".utf8)) {
            self = .other("BigTIFF")
        } else if starts(with: Array("8BPS".utf8)) {
            self = .other("Photoshop")
        } else if starts(with: [0x00, 0x00, 0x01, 0x00]) {
            self = .other("ICO")
        } else if starts(with: Array("ftyp".utf8), at: 4) {
            self = .other("HEIF/AVIF")
        } else if starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20])
            || starts(with: [0xFF, 0x4F, 0xFF, 0x51])
        {
            self = .other("JPEG 2000")
        } else {
            self = .unknown
        }
    }
}
