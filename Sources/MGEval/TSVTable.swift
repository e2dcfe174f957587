import Foundation
import MGData
import MGJSON

/// A tab-separated table read the way upstream reads the VLMEvalKit/LMUData benchmark files:
/// `pandas.read_csv(path, sep='\t')` with its defaults. That fixes the details that change prompts and scores:
///
/// - the first non-blank record is the header; empty header names become `Unnamed: i`, repeated names get
///   `.1`, `.2`, … appended (pandas' de-duplication);
/// - a field that starts with `"` is quoted: `""` inside it is one quote, and tabs and line breaks inside it
///   are data; characters after the closing quote are kept literally (`"ab"c` is `abc`), and a quote that
///   does not start a field is an ordinary character;
/// - records end at `\n`, `\r\n` or `\r`; empty lines (and lines of only spaces) are skipped;
/// - a field equal to one of pandas' default NA strings (`""`, `NaN`, `NA`, `None`, `null`, …, quoted or not)
///   is NaN, stored here as nil;
/// - a leading UTF-8 byte-order mark is dropped.
///
/// Stricter than pandas on purpose: a record with fewer fields than the header is an error (pandas pads it
/// with NaN), because in these files a short row means a truncated or hand-damaged line, and silently
/// scoring it would hide that. Text that is not UTF-8 is an error too (pandas raises as well).
public struct TSVTable {
    /// How pandas would type a column, which decides how `str(value)` looks for the prompt text.
    public enum ColumnKind: Equatable, Sendable {
        /// `object` dtype: values are the field text.
        case text
        /// `int64`: every value is an integer literal and none is NaN; shown without leading zeros or `+`.
        case integer
        /// `float64`: every non-NaN value is a number (an integer column with NaN ends up here too); shown as
        /// Python's `repr(float)`, so `4` becomes `4.0`.
        case float
    }

    public let url: URL
    /// Header names after pandas' renaming of empty and repeated names.
    public let columns: [String]
    /// One array per data record, `columns.count` long; nil is NaN.
    public let rows: [[String?]]
    /// The 1-based file line on which each data record starts.
    public let lines: [Int]
    /// The pandas dtype each column would get (see `ColumnKind`).
    public let kinds: [ColumnKind]

    private let columnIndexByName: [String: Int]

    /// pandas' default `na_values` (pandas 2.x `STR_NA_VALUES`): these exact field texts read as NaN.
    public static let naValues: Set<String> = [
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
        "NA", "NULL", "NaN", "None", "n/a", "nan", "null"
    ]

    /// Reads and parses a file. Errors name the file, the line and the field.
    public static func read(_ url: URL) throws -> TSVTable {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EvalError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        return try parse(data, url: url)
    }

    /// Parses TSV bytes; `url` is only used to name the file in errors.
    public static func parse(_ data: Data, url: URL) throws -> TSVTable {
        let bytes = [UInt8](data)
        var scanner = Scanner(bytes: bytes, file: url.path)
        guard let headerRecord = try scanner.nextRecord(columns: nil) else {
            throw EvalError.emptyTable(file: url.path)
        }
        let columns = try pandasColumnNames(
            headerRecord.fields.enumerated().map { number, field in
                try scanner.decode(field, line: headerRecord.line, fieldNumber: number + 1, column: "header")
            })
        var rows: [[String?]] = []
        var lines: [Int] = []
        while let record = try scanner.nextRecord(columns: columns) {
            guard record.fields.count == columns.count else {
                throw EvalError.fieldCount(
                    file: url.path, line: record.line, expected: columns.count, found: record.fields.count,
                    firstMissingColumn: record.fields.count < columns.count ? columns[record.fields.count] : nil)
            }
            var values: [String?] = []
            values.reserveCapacity(columns.count)
            for (number, field) in record.fields.enumerated() {
                let text = try scanner.decode(field, line: field.line, fieldNumber: number + 1, column: columns[number])
                values.append(naValues.contains(text) ? nil : text)
            }
            rows.append(values)
            lines.append(record.line)
        }
        let kinds = (0..<columns.count).map { column in inferKind(rows.lazy.map { $0[column] }) }
        return TSVTable(url: url, columns: columns, rows: rows, lines: lines, kinds: kinds)
    }

    private init(url: URL, columns: [String], rows: [[String?]], lines: [Int], kinds: [ColumnKind]) {
        self.url = url
        self.columns = columns
        self.rows = rows
        self.lines = lines
        self.kinds = kinds
        var byName: [String: Int] = [:]
        for (i, name) in columns.enumerated() where byName[name] == nil { byName[name] = i }
        columnIndexByName = byName
    }

    /// The position of a column, or nil when the header lacks it.
    public func columnIndex(_ name: String) -> Int? { columnIndexByName[name] }

    /// The position of a column the caller cannot do without.
    public func requireColumn(_ name: String) throws -> Int {
        guard let index = columnIndexByName[name] else {
            throw EvalError.missingColumn(file: url.path, column: name, available: columns)
        }
        return index
    }

    /// The raw field text of a cell (nil = NaN).
    public func value(row: Int, column: Int) -> String? { rows[row][column] }

    /// The cell as Python's `str()` shows the value pandas produced: the text for text columns, and the
    /// normalised number for numeric ones (an option column whose values are all numbers, some NaN, reads as
    /// float64, and upstream's f-string then prints `4.0`).
    public func displayValue(row: Int, column: Int) -> String? {
        guard let text = rows[row][column] else { return nil }
        switch kinds[column] {
        case .text:
            return text
        case .integer:
            return Int(text).map(String.init) ?? text
        case .float:
            return Double(text).map(Self.pythonFloatRepr) ?? text
        }
    }

    // MARK: - Column names and kinds

    /// pandas names an empty header field `Unnamed: i` and renames repeats the way its C parser does: the k-th
    /// repeat of `a` becomes `a.k`, skipping suffixes that another header field already spells (`a, a.1, a`
    /// gives `a, a.1, a.2`).
    private static func pandasColumnNames(_ raw: [String]) -> [String] {
        var names = raw.enumerated().map { i, name in name.isEmpty ? "Unnamed: \(i)" : name }
        var counts: [String: Int] = [:]
        for i in names.indices {
            let original = names[i]
            var name = original
            var count = counts[original, default: 0]
            while count > 0 {
                counts[original] = count + 1
                name = "\(original).\(count)"
                count = names.contains(name) ? count + 1 : counts[name, default: 0]
            }
            names[i] = name
            counts[name] = count + 1
        }
        return names
    }

    /// Column dtype inference as pandas' C parser does it for the cases that matter here: integers (no NaN),
    /// floats (numbers, NaN allowed), otherwise text. An all-NaN column is float64 in pandas, but it has no
    /// values to show, so the kind does not matter for it.
    static func inferKind<S: Sequence>(_ values: S) -> ColumnKind where S.Element == String? {
        var sawNaN = false, allIntegers = true, sawValue = false
        for value in values {
            guard let text = value else { sawNaN = true; continue }
            sawValue = true
            if isIntegerLiteral(text) {
                if Int(text) == nil { return .text }  // beyond Int64: pandas tries uint64 / object; keep the text
            } else if isFloatLiteral(text) {
                allIntegers = false
            } else {
                return .text
            }
        }
        guard sawValue else { return .float }
        return allIntegers && !sawNaN ? .integer : .float
    }

    /// `[+-]?digits`.
    static func isIntegerLiteral(_ text: String) -> Bool {
        var utf8 = Substring(text).utf8[...]
        if let first = utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// `[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?` — the decimal forms pandas' float parser accepts.
    /// Walks the UTF-8 view in place: it runs over every field of every column, base64 images included.
    static func isFloatLiteral(_ text: String) -> Bool {
        let b = text.utf8
        var i = b.startIndex
        func at(_ predicate: (UInt8) -> Bool) -> Bool { i < b.endIndex && predicate(b[i]) }
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        func isSign(_ byte: UInt8) -> Bool { byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") }
        func digits() -> Int {
            var count = 0
            while at(isDigit) { i = b.index(after: i); count += 1 }
            return count
        }
        if at(isSign) { i = b.index(after: i) }
        var mantissaDigits = digits()
        if at({ $0 == UInt8(ascii: ".") }) {
            i = b.index(after: i)
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return false }
        if at({ $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            i = b.index(after: i)
            if at(isSign) { i = b.index(after: i) }
            guard digits() > 0 else { return false }
        }
        return i == b.endIndex
    }

    /// Python's `repr(float)`: the shortest round-tripping digits, positional for decimal exponents −4…15 (with
    /// at least one digit after the point), otherwise `d.ddde±XX`.
    static func pythonFloatRepr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also prints the shortest round-tripping digits; only the layout differs.
        let swiftText = "\(Swift.abs(value))"
        var mantissa = Substring(swiftText)
        var exponent = 0
        if let e = swiftText.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = swiftText[..<e]
            exponent = Int(swiftText[swiftText.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = parts.first.map(String.init) ?? ""
        let fractionPart = parts.count > 1 ? String(parts[1]) : ""
        // All digits and the position of the decimal point in them, then strip leading and trailing zeros.
        var digits = Array(integerPart + fractionPart)
        var pointPosition = integerPart.count + exponent
        while let first = digits.first, first == "0" { digits.removeFirst(); pointPosition -= 1 }
        while let last = digits.last, last == "0" { digits.removeLast() }
        guard !digits.isEmpty else { return value.sign == .minus ? "-0.0" : "0.0" }
        let scientificExponent = pointPosition - 1
        let sign = value < 0 ? "-" : ""
        if scientificExponent >= -4 && scientificExponent < 16 {
            if pointPosition <= 0 {
                return sign + "0." + String(repeating: "0", count: -pointPosition) + String(digits)
            }
            if pointPosition >= digits.count {
                return sign + String(digits) + String(repeating: "0", count: pointPosition - digits.count) + ".0"
            }
            return sign + String(digits[..<pointPosition]) + "." + String(digits[pointPosition...])
        }
        let head = String(digits[0]) + (digits.count > 1 ? "." + String(digits[1...]) : "")
        let magnitude = Swift.abs(scientificExponent)
        return sign + head + "e" + (scientificExponent < 0 ? "-" : "+") + (magnitude < 10 ? "0" : "") + "\(magnitude)"
    }
}

// MARK: - Tokenizer

extension TSVTable {
    /// A field as byte ranges of the file: unquoted fields are one slice; quoted fields are assembled from the
    /// pieces between doubled quotes (rare), so the 100 KB base64 image fields are never copied byte by byte.
    struct Field {
        var pieces: [Range<Int>]
        var line: Int
    }

    struct Record {
        var fields: [Field]
        var line: Int
    }

    /// Walks the bytes record by record. Tab, quote, CR and LF are ASCII, so splitting UTF-8 text on them at byte
    /// level is exact; each field is validated as UTF-8 once it is cut out.
    struct Scanner {
        let bytes: [UInt8]
        let file: String
        var position = 0
        var line = 1

        private static let tab = UInt8(ascii: "\t"), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        private static let quote = UInt8(ascii: "\""), space = UInt8(ascii: " ")

        init(bytes: [UInt8], file: String) {
            self.bytes = bytes
            self.file = file
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3 }
        }

        /// The position of the next tab, CR or LF at or after `start` (or the end). This loop sees every byte of
        /// the file, so it runs on the raw buffer rather than through the array's checked subscript.
        private func fieldEnd(from start: Int) -> Int {
            bytes.withUnsafeBufferPointer { buffer in
                var i = start
                while i < buffer.count {
                    let byte = buffer[i]
                    if byte == Self.tab || byte == Self.lf || byte == Self.cr { break }
                    i += 1
                }
                return i
            }
        }

        /// Consumes one line terminator (`\n`, `\r\n` or `\r`) at `position`, if any, and counts the line.
        private mutating func consumeTerminator() {
            guard position < bytes.count else { return }
            if bytes[position] == Self.cr {
                position += 1
                if position < bytes.count, bytes[position] == Self.lf { position += 1 }
                line += 1
            } else if bytes[position] == Self.lf {
                position += 1
                line += 1
            }
        }

        /// True when the line starting at `position` is empty or only spaces and tabs after a leading space
        /// (pandas' skip_blank_lines). Does not move.
        private func isBlankLine() -> Bool {
            guard position < bytes.count else { return false }
            let first = bytes[position]
            if first == Self.lf || first == Self.cr { return true }
            guard first == Self.space else { return false }
            var i = position
            while i < bytes.count, bytes[i] == Self.space || bytes[i] == Self.tab { i += 1 }
            return i == bytes.count || bytes[i] == Self.lf || bytes[i] == Self.cr
        }

        /// The next non-blank record, or nil at the end of the file. `columns` (nil for the header) only names
        /// the field in an unterminated-quote error.
        mutating func nextRecord(columns: [String]?) throws -> Record? {
            while position < bytes.count, isBlankLine() {
                while position < bytes.count, bytes[position] != Self.lf, bytes[position] != Self.cr { position += 1 }
                consumeTerminator()
            }
            guard position < bytes.count else { return nil }
            let recordLine = line
            var fields: [Field] = []
            while true {
                let fieldLine = line
                var pieces: [Range<Int>] = []
                if bytes[safe: position] == Self.quote {
                    position += 1
                    var pieceStart = position
                    while true {
                        guard position < bytes.count else {
                            let number = fields.count + 1
                            let column =
                                columns.map { number <= $0.count ? $0[number - 1] : "(beyond the header)" }
                                ?? "header"
                            throw EvalError.unterminatedQuote(
                                file: file, line: fieldLine, field: number, column: column)
                        }
                        let byte = bytes[position]
                        if byte == Self.quote {
                            if position + 1 < bytes.count, bytes[position + 1] == Self.quote {
                                pieces.append(pieceStart..<(position + 1))  // keep one of the two quotes
                                position += 2
                                pieceStart = position
                                continue
                            }
                            pieces.append(pieceStart..<position)
                            position += 1
                            break
                        }
                        if byte == Self.lf || (byte == Self.cr && bytes[safe: position + 1] != Self.lf) { line += 1 }
                        position += 1
                    }
                }
                // Unquoted text, or what follows a closing quote: up to the next tab or line end.
                let start = position
                position = fieldEnd(from: position)
                if position > start || pieces.isEmpty { pieces.append(start..<position) }
                fields.append(Field(pieces: pieces, line: fieldLine))
                if position < bytes.count, bytes[position] == Self.tab {
                    position += 1
                    continue
                }
                consumeTerminator()
                return Record(fields: fields, line: recordLine)
            }
        }

        /// Strict UTF-8 (as Python decodes it): no overlong forms, no surrogates, nothing above U+10FFFF, no
        /// truncated sequences; `UTF8Text`'s rule, on the raw buffer.
        static func isValidUTF8(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
            bytes.withUnsafeBytes { UTF8Text.isValid(UnsafeRawBufferPointer(rebasing: $0[range])) }
        }

        /// The field's text; invalid UTF-8 is an error naming the line and field.
        func decode(_ field: Field, line: Int, fieldNumber: Int, column: String) throws -> String {
            var text = ""
            for piece in field.pieces {
                // String(decoding:) would silently repair bad sequences with U+FFFD; pandas raises instead.
                guard Self.isValidUTF8(bytes, piece) else {
                    throw EvalError.invalidUTF8(file: file, line: line, field: fieldNumber, column: column)
                }
                let decoded = String(decoding: bytes[piece], as: UTF8.self)
                if field.pieces.count == 1 { return decoded }
                text += decoded
            }
            return text
        }
    }
}

private extension Array where Element == UInt8 {
    subscript(safe index: Int) -> UInt8? { indices.contains(index) ? self[index] : nil }
}
