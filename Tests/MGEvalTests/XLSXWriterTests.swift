import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
@testable import MGEval
import XCTest

/// The .xlsx container and sheet: a valid stored ZIP (CRC-32 checked against the standard check value), the
/// parts a spreadsheet reader needs, and cells that read back as written (escapes included).
final class XLSXWriterTests: XCTestCase {
    /// Entries of a ZIP with stored members, read from the local headers (enough for what StoredZipWriter writes).
    private func storedEntries(_ data: Data) throws -> [String: Data] {
        let bytes = [UInt8](data)
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        var entries: [String: Data] = [:], offset = 0
        while offset + 30 <= bytes.count, u32(offset) == 0x0403_4b50 {
            XCTAssertEqual(u16(offset + 8), 0, "stored")
            let size = u32(offset + 18), nameLength = u16(offset + 26), extra = u16(offset + 28)
            let name = String(decoding: bytes[(offset + 30)..<(offset + 30 + nameLength)], as: UTF8.self)
            let start = offset + 30 + nameLength + extra
            let body = Data(bytes[start..<(start + size)])
            XCTAssertEqual(UInt32(u32(offset + 14)), CRC32.checksum(body), name)
            entries[name] = body
            offset = start + size
        }
        // Then the central directory (one record per entry) and the end record pointing at it.
        let end = try XCTUnwrap((0...(bytes.count - 22)).reversed().first { u32($0) == 0x0605_4b50 })
        XCTAssertEqual(u16(end + 10), entries.count)
        XCTAssertEqual(u32(end + 16), offset)
        return entries
    }

    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Data("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum(Data()), 0)
    }

    func testWorkbookPartsAndCells() throws {
        let rows: [[XLSXCell]] = [
            [.text("question"), .text("A"), .text("index")],
            [.text("Is 1 < 2 & \"3\" > 2?"), .empty, .number(1000007)],
            [.text("bell\u{7} and _x0041_ literal"), .text("漢字"), .number(2.5)]
        ]
        let entries = try storedEntries(try XLSXWriter.workbook(rows: rows))
        XCTAssertEqual(
            Set(entries.keys),
            [
                "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
                "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"
            ])
        let sheet = String(decoding: try XCTUnwrap(entries["xl/worksheets/sheet1.xml"]), as: UTF8.self)
        XCTAssertTrue(
            sheet.contains(
                "<c r=\"A2\" t=\"inlineStr\"><is><t xml:space=\"preserve\">Is 1 &lt; 2 &amp; &quot;3&quot; &gt; 2?</t></is></c>"
            ), sheet)
        XCTAssertFalse(sheet.contains("r=\"B2\""), "NaN writes no cell")
        XCTAssertTrue(sheet.contains("<c r=\"C2\"><v>1000007</v></c>"), sheet)
        XCTAssertTrue(sheet.contains("<c r=\"C3\"><v>2.5</v></c>"), sheet)
        XCTAssertTrue(sheet.contains("bell_x0007_ and _x005F_x0041_ literal"), sheet)
        XCTAssertTrue(sheet.contains("漢字"))
        // Every part is well-formed XML.
        for (name, data) in entries {
            let parser = XMLParser(data: data)
            XCTAssertTrue(parser.parse(), "\(name): \(parser.parserError.map { "\($0)" } ?? "")")
        }
    }

    func testColumnNames() {
        XCTAssertEqual(
            [0, 1, 25, 26, 27, 51, 52, 701, 702].map(XLSXWriter.columnName),
            ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"])
    }
}
