import Foundation
import MGJSON

/// The box JSON (SPEC §4.2) keyed as training keys it: `str(item['id'])`.
public struct BoxIndex: Sendable {
    public private(set) var records: [String: BoxRecord]
    /// Ids seen more than once (only non-empty with `allowDuplicates`, where the last record wins as in Python's
    /// dict comprehension).
    public private(set) var duplicateIDs: [String]
    public var count: Int { records.count }

    /// `file` names the source in errors. Duplicate ids throw unless `allowDuplicates`: upstream silently keeps
    /// the last one, which usually means two datasets were merged with clashing ids.
    public init(records list: [BoxRecord], file: String = "<boxes>", allowDuplicates: Bool = false) throws {
        var table: [String: BoxRecord] = [:]
        var duplicates: [String] = []
        var seen = Set<String>()
        for record in list {
            let key = record.id.key
            if table[key] != nil, seen.insert(key).inserted { duplicates.append(key) }
            table[key] = record
        }
        if !duplicates.isEmpty && !allowDuplicates {
            throw DataError.duplicateBoxIDs(file: file, count: duplicates.count, examples: Array(duplicates.prefix(5)))
        }
        records = table
        duplicateIDs = duplicates
    }

    /// Reads a box JSON file (a list of records or an id-keyed object).
    public static func load(contentsOf url: URL, allowDuplicates: Bool = false) throws -> BoxIndex {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        return try decode(data, file: url.path, allowDuplicates: allowDuplicates)
    }

    public static func decode(_ data: Data, file: String = "<boxes>", allowDuplicates: Bool = false) throws -> BoxIndex
    {
        if let bad = UTF8Text.firstInvalidOffset(in: data) {
            let position = UTF8Text.lineColumn(of: bad, in: data)
            throw DataError.invalidUTF8(file: file, byteOffset: bad, line: position.line, column: position.column)
        }
        let list: [BoxRecord]
        do {
            list = try BoxRecord.decodeFile(data)
        } catch let syntax as JSONSyntaxError {
            let position = syntax.position(in: data)
            throw DataError.malformedJSON(
                file: file, line: position.line, column: position.column, detail: syntax.message)
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            // A syntax error: the underlying parser error carries the byte offset.
            let (offset, detail) = JSONText.errorOffset(
                context.underlyingError ?? DecodingError.dataCorrupted(context),
                dataCount: data.count)
            let position = UTF8Text.lineColumn(of: offset, in: data)
            throw DataError.malformedJSON(file: file, line: position.line, column: position.column, detail: detail)
        } catch let error as DecodingError {
            throw DataError.invalidRecord(
                file: file, index: recordIndex(error) ?? -1, id: nil,
                problem: describe(error))
        }
        return try BoxIndex(records: list, file: file, allowDuplicates: allowDuplicates)
    }

    /// The record for sample `id`; throws `DataError.missingBoxes` naming the id.
    public func record(for id: String) throws -> BoxRecord {
        guard let record = records[id] else { throw DataError.missingBoxes(id: id) }
        return record
    }

    // MARK: - Decoding error text

    private static func recordIndex(_ error: DecodingError) -> Int? {
        context(error)?.codingPath.first?.intValue
    }

    private static func context(_ error: DecodingError) -> DecodingError.Context? {
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c): return c
        @unknown default: return nil
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        guard let context = context(error) else { return "\(error)" }
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        if case .keyNotFound(let key, _) = error { return "\(path).\(key.stringValue) is missing" }
        return "\(path): \(context.debugDescription)"
    }
}
