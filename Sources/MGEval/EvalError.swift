import Foundation

/// Errors of the evaluation pieces. Each names the file and, where there is one, the TSV line, the column or
/// field and the row's `index`, so that a bad row in a 4 000-row benchmark TSV can be found without a debugger.
/// Lines are 1-based physical lines of the file (a quoted field with newlines spans several; the line named is
/// where the record, or the offending field, starts).
public enum EvalError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, detail: String)
    /// The file holds no header row.
    case emptyTable(file: String)
    /// The header has no data rows after it (upstream reads the split from the first row).
    case noRows(file: String)
    /// A field's bytes are not UTF-8. `field` is 1-based; `column` is its header name ("header" for the header).
    case invalidUTF8(file: String, line: Int, field: Int, column: String)
    /// A field opened with `"` is still open at the end of the file; `line` is where the quote opened.
    case unterminatedQuote(file: String, line: Int, field: Int, column: String)
    /// A record has a different number of fields than the header. `firstMissingColumn` is the first column the
    /// record does not reach (nil when it has extra fields instead).
    case fieldCount(file: String, line: Int, expected: Int, found: Int, firstMissingColumn: String?)
    /// A column the dataset needs is not in the header.
    case missingColumn(file: String, column: String, available: [String])
    /// A value is present (or NaN) where the dataset cannot use it: an `index` that is not a non-negative
    /// integer, a NaN `question`, a NaN `category` when scoring, and so on.
    case invalidValue(file: String, line: Int, column: String, value: String?, problem: String)
    /// Two rows share an `index`; predictions, image references and circular groups are keyed by it.
    case duplicateIndex(file: String, index: Int, firstLine: Int, line: Int)
    /// An `image` value shorter than 16 characters is a reference to another row's `index`; this one names no row.
    case unknownImageReference(file: String, line: Int, index: Int, reference: String)
    /// Image references that lead back to a row already visited (`chain` lists the indexes followed).
    case imageReferenceCycle(file: String, line: Int, index: Int, chain: [Int])
    /// A row's resolved image is not decodable base64.
    case invalidBase64(file: String, line: Int, index: Int, detail: String)
    /// No row has an index below 1 000 000, so there is no main question to score (upstream's mean would be NaN).
    case noMainQuestions(file: String)
    /// A dataset row has no prediction.
    case missingPrediction(file: String, index: Int)
    /// A prediction's index is not a row of the dataset (wrong TSV for these predictions).
    case unknownPrediction(file: String, index: Int)
    /// Writing a results file failed.
    case writeFailed(file: String, detail: String)
    /// A predictions file holding several lines for one row index (`count` such indexes, the first few listed).
    case duplicatePredictions(file: String, count: Int, indexes: [Int])
    /// A JSON-lines line that ends before its value does (a copy cut short, a killed writer).
    case truncatedLine(file: String, line: Int)
    /// A JSON-lines line that is not valid JSON.
    case malformedLine(file: String, line: Int, column: Int, detail: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail):
            return "\(file): cannot read (\(detail))"
        case .emptyTable(let file):
            return "\(file): empty file, expected a tab-separated header row"
        case .noRows(let file):
            return "\(file): the header has no data rows after it"
        case .invalidUTF8(let file, let line, let field, let column):
            return "\(file):\(line): field \(field) (column '\(column)') is not valid UTF-8"
        case .unterminatedQuote(let file, let line, let field, let column):
            return "\(file):\(line): field \(field) (column '\(column)') opens a double quote that is never closed "
                + "before the end of the file"
        case .fieldCount(let file, let line, let expected, let found, let firstMissingColumn):
            if let column = firstMissingColumn {
                return "\(file):\(line): \(found) tab-separated fields but the header has \(expected); "
                    + "field \(found + 1) (column '\(column)') onwards is missing"
            }
            return "\(file):\(line): \(found) tab-separated fields but the header has \(expected); "
                + "field \(expected + 1) onwards has no column"
        case .missingColumn(let file, let column, let available):
            return "\(file): no column '\(column)' in the header (columns: \(available.joined(separator: ", ")))"
        case .invalidValue(let file, let line, let column, let value, let problem):
            let shown = value.map { "'\(Self.abbreviated($0))'" } ?? "NaN"
            return "\(file):\(line): column '\(column)' value \(shown): \(problem)"
        case .duplicatePredictions(let file, let count, let indexes):
            return "\(file): \(count) row indexes have more than one prediction (e.g. "
                + indexes.map(String.init).joined(separator: ", ") + "); which one to score is ambiguous"
        case .truncatedLine(let file, let line):
            return "\(file):\(line): the line is truncated (its JSON ends before the value is complete)"
        case .malformedLine(let file, let line, let column, let detail):
            return "\(file):\(line):\(column): not valid JSON (\(detail))"
        case .duplicateIndex(let file, let index, let firstLine, let line):
            return "\(file):\(line): index \(index) already used on line \(firstLine)"
        case .unknownImageReference(let file, let line, let index, let reference):
            return "\(file):\(line): row index \(index): image value '\(Self.abbreviated(reference))' is shorter than "
                + "16 characters, so it must be the index of another row, but no row has that index"
        case .imageReferenceCycle(let file, let line, let index, let chain):
            return "\(file):\(line): row index \(index): image references form a cycle "
                + "(\(chain.map(String.init).joined(separator: " -> ")))"
        case .invalidBase64(let file, let line, let index, let detail):
            return "\(file):\(line): row index \(index): image is not valid base64 (\(detail))"
        case .noMainQuestions(let file):
            return "\(file): no row has an index below 1000000, so there are no main questions to score"
        case .missingPrediction(let file, let index):
            return "\(file): no prediction for row index \(index)"
        case .unknownPrediction(let file, let index):
            return "\(file): prediction for index \(index), which is not a row of this file"
        case .writeFailed(let file, let detail):
            return "\(file): cannot write (\(detail))"
        }
    }

    /// Keeps messages short when a value is a 100 KB base64 image.
    static func abbreviated(_ text: String, limit: Int = 60) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        var head = String.UnicodeScalarView()
        head.append(contentsOf: scalars.prefix(limit))
        return String(head) + "… (\(scalars.count) characters)"
    }
}
