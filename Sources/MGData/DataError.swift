@_exported import MGLLaVA
import Foundation
import MGJSON

/// Errors of the data pipeline. Each names the file, the record (index and id) or the sample id, and says what
/// was expected and what was found, so that a bad line in a 1M-record JSON can be found without a debugger.
public enum DataError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, detail: String)
    /// The bytes are not UTF-8; `byteOffset` is the first invalid byte.
    case invalidUTF8(file: String, byteOffset: Int, line: Int, column: Int)
    /// The JSON syntax is broken; line and column are 1-based (column counted in characters of that line).
    case malformedJSON(file: String, line: Int, column: Int, detail: String)
    /// A record is present but a field is missing or has the wrong type.
    case invalidRecord(file: String, index: Int, id: String?, problem: String)
    /// The box JSON holds several records for the same `str(id)`.
    case duplicateBoxIDs(file: String, count: Int, examples: [String])
    /// A sample has no entry in the box JSON.
    case missingBoxes(id: String)
    /// A sample that cannot be trained on: missing or undecodable image, unusable boxes, invalid roles.
    case badSample(id: String, index: Int, problem: String)
    /// Sampler / batcher parameters that cannot work (empty dataset, batch size 0, zero lengths).
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail):
            return "\(file): cannot read (\(detail))"
        case .invalidUTF8(let file, let offset, let line, let column):
            return "\(file):\(line):\(column): invalid UTF-8 at byte \(offset)"
        case .malformedJSON(let file, let line, let column, let detail):
            return "\(file):\(line):\(column): malformed JSON (\(detail))"
        case .invalidRecord(let file, let index, let id, let problem):
            let idText = id.map { " (id \"\($0)\")" } ?? ""
            return "\(file): record \(index)\(idText): \(problem)"
        case .duplicateBoxIDs(let file, let count, let examples):
            return
                "\(file): \(count) duplicate box record ids, e.g. \(examples.map { "\"\($0)\"" }.joined(separator: ", "))"
        case .missingBoxes(let id):
            return "sample \"\(id)\": no entry in the box JSON"
        case .badSample(let id, let index, let problem):
            return "sample \"\(id)\" (record \(index)): \(problem)"
        case .invalidConfiguration(let message):
            return message
        }
    }
}

extension DataError {
    /// Why reading or writing a file failed, in words: the system's errno text ("No such file or directory", "No
    /// space left on device") where Foundation wraps or implies one, else Foundation's own description (never the
    /// raw NSError dump); errors of other domains as they describe themselves.
    public static func plainReason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if ns.domain == NSCocoaErrorDomain {
            // Foundation's file error codes, for errors that carry no errno.
            switch ns.code {
            case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return String(cString: strerror(ENOENT))
            case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return String(cString: strerror(EACCES))
            case NSFileWriteOutOfSpaceError: return String(cString: strerror(ENOSPC))
            case NSFileWriteVolumeReadOnlyError: return String(cString: strerror(EROFS))
            case NSFileWriteFileExistsError: return String(cString: strerror(EEXIST))
            case NSFileReadUnknownError:
                // Reading a directory fails this way on Linux, with no errno attached.
                let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
                var isDirectory: ObjCBool = false
                if let path, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
                    isDirectory.boolValue
                {
                    return String(cString: strerror(EISDIR))
                }
                return ns.localizedDescription
            default: return ns.localizedDescription
            }
        }
        // Not a Foundation error: our own errors describe themselves.
        return "\(error)"
    }
}

/// What the dataset does with a sample it cannot use.
public enum BadSamplePolicy: String, Sendable, Codable {
    /// Throw `DataError.badSample` (the default: silent data loss hides broken datasets).
    case fail
    /// Count it in `LLaVADataset.skipped` with its reason and go on.
    case skip
}

// MARK: - JSON text positions

/// UTF-8 offsets and line/column positions come from `UTF8Text` (MGJSON).
enum JSONText {
    /// Foundation's parser reports "… around character N." or "… at N." in its debug description; N is a byte
    /// offset into the data. End-of-file errors carry no offset and point past the last byte.
    static func errorOffset(_ error: Error, dataCount: Int) -> (offset: Int, detail: String) {
        let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
        let markers = ["around character ", " at "]
        for marker in markers {
            if let range = detail.range(of: marker, options: .backwards) {
                let digits = detail[range.upperBound...].prefix { $0.isNumber }
                if let value = Int(digits) { return (value, detail) }
            }
        }
        return (dataCount, detail)
    }

    /// Reads a file and parses it as JSON, turning encoding and syntax failures into `DataError`s with positions.
    static func parse(contentsOf url: URL) throws -> Any {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        return try parse(data, file: url.path)
    }

    static func parse(_ data: Data, file: String) throws -> Any {
        if let bad = UTF8Text.firstInvalidOffset(in: data) {
            let position = UTF8Text.lineColumn(of: bad, in: data)
            throw DataError.invalidUTF8(file: file, byteOffset: bad, line: position.line, column: position.column)
        }
        // Foundation accepts trailing commas; Python's json, which reads these files upstream, does not.
        if let syntax = JSONSyntax.firstError(in: data) {
            let position = syntax.position(in: data)
            throw DataError.malformedJSON(
                file: file, line: position.line, column: position.column, detail: syntax.message)
        }
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let (offset, detail) = errorOffset(error, dataCount: data.count)
            let position = UTF8Text.lineColumn(of: offset, in: data)
            throw DataError.malformedJSON(file: file, line: position.line, column: position.column, detail: detail)
        }
    }
}
