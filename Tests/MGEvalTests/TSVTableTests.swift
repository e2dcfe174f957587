import XCTest
import Foundation
@testable import MGEval

/// The TSV reader against what `pandas.read_csv(path, sep='\t')` gives for the same bytes.
final class TSVTableTests: XCTestCase {
    private let url = URL(fileURLWithPath: "/data/bench.tsv")

    private func parse(_ text: String) throws -> TSVTable { try TSVTable.parse(Data(text.utf8), url: url) }

    func testQuotedFieldsHoldTabsNewlinesAndDoubledQuotes() throws {
        let table = try parse("a\tb\tc\n\"x\ty\"\t\"line1\nline2\"\t\"say \"\"hi\"\"\"\nplain\t\"ab\"cd\tmid\"quote\n")
        XCTAssertEqual(table.columns, ["a", "b", "c"])
        XCTAssertEqual(table.rows[0], ["x\ty", "line1\nline2", "say \"hi\""])
        // Text after a closing quote is kept; a quote inside an unquoted field is an ordinary character.
        XCTAssertEqual(table.rows[1], ["plain", "abcd", "mid\"quote"])
        XCTAssertEqual(table.lines, [2, 4])
    }

    func testNaNValuesBlankLinesLineEndingsAndBOM() throws {
        let text = "\u{FEFF}a\tb\tc\r\n\r\nNA\t\t\"\"\r   \nNone\tnan\tnull\n\nkeep\tN/A\tx"
        let table = try parse(text)
        XCTAssertEqual(table.columns, ["a", "b", "c"])
        XCTAssertEqual(table.rows.count, 3)
        XCTAssertEqual(table.rows[0], [nil, nil, nil])
        XCTAssertEqual(table.rows[1], [nil, nil, nil])
        XCTAssertEqual(table.rows[2], ["keep", nil, "x"])
        XCTAssertEqual(table.lines, [3, 5, 7])
    }

    func testHeaderNamesAreRenamedLikePandas() throws {
        let table = try parse("a\t\ta\ta.1\ta\n1\t2\t3\t4\t5\n")
        XCTAssertEqual(table.columns, ["a", "Unnamed: 1", "a.2", "a.1", "a.3"])  // pandas 3.1.1
        XCTAssertEqual(table.columnIndex("a.3"), 4)
        XCTAssertEqual(try parse("x\tx\tx\n1\t2\t3\n").columns, ["x", "x.1", "x.2"])
    }

    func testNumericColumnsShowAsPandasDtypes() throws {
        let table = try parse("int\tintnan\tfloat\ttext\n007\t4\t0.5\t1\n+3\t\t1e-5\tx\n")
        XCTAssertEqual(table.kinds, [.integer, .float, .float, .text])
        XCTAssertEqual(table.displayValue(row: 0, column: 0), "7")
        XCTAssertEqual(table.displayValue(row: 1, column: 0), "3")
        XCTAssertEqual(table.displayValue(row: 0, column: 1), "4.0")
        XCTAssertNil(table.displayValue(row: 1, column: 1))
        XCTAssertEqual(table.displayValue(row: 1, column: 2), "1e-05")
        XCTAssertEqual(table.displayValue(row: 0, column: 3), "1")
    }

    func testPythonFloatRepr() {
        let cases: [(Double, String)] = [
            (4, "4.0"), (0.5, "0.5"), (-2.25, "-2.25"), (1e-5, "1e-05"), (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (9.5e15, "9500000000000000.0"), (1e16, "1e+16"), (1.5e300, "1.5e+300"), (0.1, "0.1"), (123.456, "123.456"),
            (-0.0, "-0.0"), (Double.leastNonzeroMagnitude, "5e-324"), (1.0 / 3.0, "0.3333333333333333")
        ]
        for (value, expected) in cases { XCTAssertEqual(TSVTable.pythonFloatRepr(value), expected, "\(value)") }
    }

    func testWrongFieldCountNamesLineAndColumn() {
        XCTAssertThrowsError(try parse("index\tquestion\tanswer\n0\tq\tA\n1\tq\n")) { error in
            XCTAssertEqual(
                error as? EvalError,
                .fieldCount(
                    file: url.path, line: 3, expected: 3, found: 2,
                    firstMissingColumn: "answer"))
            XCTAssertTrue("\(error)".hasPrefix("/data/bench.tsv:3:"), "\(error)")
            XCTAssertTrue("\(error)".contains("'answer'"), "\(error)")
        }
        XCTAssertThrowsError(try parse("index\tquestion\n0\tq\textra\n")) { error in
            XCTAssertEqual(
                error as? EvalError,
                .fieldCount(
                    file: url.path, line: 2, expected: 2, found: 3,
                    firstMissingColumn: nil))
        }
    }

    func testUnterminatedQuoteNamesWhereItOpened() {
        XCTAssertThrowsError(try parse("index\tquestion\thint\n0\tq\th\n1\t\"never closed\nmore\tstuff\n")) { error in
            XCTAssertEqual(
                error as? EvalError, .unterminatedQuote(file: url.path, line: 3, field: 2, column: "question"))
            XCTAssertTrue("\(error)".hasPrefix("/data/bench.tsv:3: field 2 (column 'question')"), "\(error)")
        }
    }

    func testInvalidUTF8NamesLineAndColumn() {
        var bytes = Array("index\tquestion\n0\tok\n1\tbad ".utf8)
        bytes += [0xE4, 0xB8]  // a truncated 3-byte sequence
        bytes += Array("\n".utf8)
        XCTAssertThrowsError(try TSVTable.parse(Data(bytes), url: url)) { error in
            XCTAssertEqual(error as? EvalError, .invalidUTF8(file: url.path, line: 3, field: 2, column: "question"))
        }
    }

    func testStrictUTF8() {
        let valid: [[UInt8]] = [Array("aé€😀".utf8), [0xF4, 0x8F, 0xBF, 0xBF], [0xED, 0x9F, 0xBF], []]
        let invalid: [[UInt8]] = [
            [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xF0, 0x80, 0x80, 0xAF],  // overlong
            [0xED, 0xA0, 0x80],  // surrogate
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],  // above U+10FFFF
            [0x80], [0xE2, 0x82], [0x61, 0xF0, 0x9F, 0x98]  // stray continuation, truncated
        ]
        for bytes in valid { XCTAssertTrue(TSVTable.Scanner.isValidUTF8(bytes, 0..<bytes.count), "\(bytes)") }
        for bytes in invalid { XCTAssertFalse(TSVTable.Scanner.isValidUTF8(bytes, 0..<bytes.count), "\(bytes)") }
    }

    func testEmptyAndUnreadableFiles() {
        XCTAssertThrowsError(try parse("\n\n")) { error in
            XCTAssertEqual(error as? EvalError, .emptyTable(file: url.path))
        }
        let missing = URL(fileURLWithPath: "/nonexistent/dir/none.tsv")
        XCTAssertThrowsError(try TSVTable.read(missing)) { error in
            guard case EvalError.unreadable(let file, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, missing.path)
        }
    }
}
