// MGEval — the LLaVA records file as box generation reads it: only `id` and `image` matter, and the id keeps its
// JSON type (the box JSON repeats it as written), which `LLaVARecord` (keyed by `str(id)`) does not keep.
import Foundation
import MGData
import MGJSON

/// Reads `id` and `image` of each record of a LLaVA JSON list or JSON-lines file.
enum BoxGenerationRecords {
    /// The images in order of first use with their ids, and the number of records without an image. A file whose
    /// first non-blank byte is `[` is a JSON list, anything else JSON lines (as `EvalQuestions` tells them).
    static func read(_ url: URL, imageFolder: URL) throws -> (items: [BoxGenerationItem], skipped: Int) {
        let file = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError.unreadable(file: file, detail: DataError.plainReason(error))
        }
        var records: [(label: String, value: JSONValue)] = []
        let first = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "[") {
            let top = try parse(data, file: file, lineOffset: 0)
            guard case .array(let list) = top else {
                throw BoxGenerationError.invalidRecord(
                    file: file, record: "the top level", id: nil,
                    problem: "is \(describe(top)), expected a list of records")
            }
            records = list.enumerated().map { ("record \($0)", $1) }
        } else if let whole = try? JSONValue.parse(data), case .object = whole {
            // One record, possibly pretty-printed over several lines: not JSON lines, but unambiguous.
            records = [("line 1", whole)]
        } else {
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                records.append(("line \(i + 1)", try parse(Data(line), file: file, lineOffset: i)))
            }
        }

        var items: [BoxGenerationItem] = []
        var itemForImage: [String: Int] = [:]
        // str(id) → the image path as written and where it was seen, to name both sides of a clash.
        var firstUse: [String: (image: String, path: String, label: String)] = [:]
        var skipped = 0
        for (label, value) in records {
            func fail(_ id: String?, _ problem: String) -> BoxGenerationError {
                .invalidRecord(file: file, record: label, id: id, problem: problem)
            }
            guard case .object(let members) = value else { throw fail(nil, "expected an object") }
            // Python's json keeps the last of repeated keys.
            guard let rawID = members.last(where: { $0.key == "id" })?.value else {
                throw fail(nil, "\"id\" is missing")
            }
            let id: BoxRecordID
            switch rawID {
            case .string(let text): id = .string(text)
            case .number(_, let integer?): id = .int(integer)
            default: throw fail(nil, "\"id\" is \(describe(rawID)), expected a string or an integer")
            }
            let image: String
            switch members.last(where: { $0.key == "image" })?.value {
            case nil, .null?:
                skipped += 1
                continue
            case .string(let text)?:
                // Upstream fills `image=''` into text-only records, as LLaVARecord treats it.
                if text.isEmpty {
                    skipped += 1
                    continue
                }
                image = text
            case let other?:
                throw fail(id.key, "\"image\" is \(describe(other)), expected a path under the image folder")
            }
            let path = imageFolder.appendingPathComponent(image).standardizedFileURL.path
            if let earlier = firstUse[id.key] {
                guard earlier.path == path else {
                    throw BoxGenerationError.conflictingImages(
                        file: file, id: id.key, first: earlier.image, firstRecord: earlier.label, second: image,
                        record: label)
                }
                continue  // the same record again: one box record serves both
            }
            firstUse[id.key] = (image, path, label)
            if let at = itemForImage[path] {
                items[at].ids.append(id)
            } else {
                itemForImage[path] = items.count
                items.append(BoxGenerationItem(ids: [id], image: .file(URL(fileURLWithPath: path))))
            }
        }
        return (items, skipped)
    }

    /// Strict JSON (MGJSON), errors at the line and column of the file.
    private static func parse(_ data: Data, file: String, lineOffset: Int) throws -> JSONValue {
        do {
            return try JSONValue.parse(data)
        } catch let error as JSONParseError {
            let position = error.position(in: data)
            throw DataError.malformedJSON(
                file: file, line: position.line + lineOffset, column: position.column, detail: error.message)
        }
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return "a boolean (\(flag))"
        case .number(let number, _): return "a number (\(number))"
        case .string(let text): return "a string (\"\(text)\")"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
