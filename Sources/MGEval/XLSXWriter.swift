// MGEval — a one-sheet .xlsx writer for the results tables upstream writes with pandas `to_excel` (the MMBench
// test-split file is what gets uploaded to the official server). SpreadsheetML with inline strings: the smallest
// package Excel, LibreOffice and openpyxl all open.
import Foundation

/// One cell of the sheet.
public enum XLSXCell: Equatable, Sendable {
    case text(String)
    case number(Double)
    /// NaN in pandas: no cell is written.
    case empty
}

/// A minimal .xlsx writer (stored zip, one sheet of strings and numbers) for upstream's results workbooks.
public enum XLSXWriter {
    /// The workbook bytes: one sheet named `sheetName` holding `rows` (the first row is usually the header).
    public static func workbook(rows: [[XLSXCell]], sheetName: String = "Sheet1") throws -> Data {
        var zip = StoredZipWriter()
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let rels = "http://schemas.openxmlformats.org/package/2006/relationships"
        let officeRels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        try zip.add(
            "[Content_Types].xml",
            Data(
                (header + """
                    <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
                    <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
                    <Default Extension="xml" ContentType="application/xml"/>\
                    <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
                    <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
                    </Types>
                    """).utf8))
        try zip.add(
            "_rels/.rels",
            Data(
                (header + """
                    <Relationships xmlns="\(rels)"><Relationship Id="rId1" Type="\(officeRels)/officeDocument" Target="xl/workbook.xml"/></Relationships>
                    """).utf8))
        try zip.add(
            "xl/workbook.xml",
            Data(
                (header + """
                    <workbook xmlns="\(main)" xmlns:r="\(officeRels)"><sheets><sheet name="\(escape(sheetName))" sheetId="1" r:id="rId1"/></sheets></workbook>
                    """).utf8))
        try zip.add(
            "xl/_rels/workbook.xml.rels",
            Data(
                (header + """
                    <Relationships xmlns="\(rels)"><Relationship Id="rId1" Type="\(officeRels)/worksheet" Target="worksheets/sheet1.xml"/></Relationships>
                    """).utf8))
        var sheet = header + "<worksheet xmlns=\"\(main)\"><sheetData>"
        for (r, row) in rows.enumerated() {
            sheet += "<row r=\"\(r + 1)\">"
            for (c, cell) in row.enumerated() {
                let ref = columnName(c) + String(r + 1)
                switch cell {
                case .text(let s):
                    sheet += "<c r=\"\(ref)\" t=\"inlineStr\"><is><t xml:space=\"preserve\">\(escape(s))</t></is></c>"
                case .number(let v) where v.isFinite:
                    sheet +=
                        "<c r=\"\(ref)\"><v>\(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v))</v></c>"
                case .number, .empty:
                    continue
                }
            }
            sheet += "</row>"
        }
        sheet += "</sheetData></worksheet>"
        try zip.add("xl/worksheets/sheet1.xml", Data(sheet.utf8))
        return zip.finish()
    }

    /// Spreadsheet column letters: 0 → A, 25 → Z, 26 → AA.
    static func columnName(_ index: Int) -> String {
        var n = index + 1, name = ""
        while n > 0 {
            let r = (n - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + r))) + name
            n = (n - 1) / 26
        }
        return name
    }

    /// XML text escaping. Control characters XML 1.0 forbids are written as OOXML's `_xHHHH_` escapes, and an
    /// underscore that would start such an escape in the text itself becomes `_x005F_`, as Excel writes it.
    static func escape(_ s: String) -> String {
        let scalars = Array(s.unicodeScalars)
        var out = ""
        for (i, scalar) in scalars.enumerated() {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            case "_" where startsEscape(scalars, at: i): out += "_x005F_"
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += String(format: "_x%04X_", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Whether `_xHHHH_` starts at `i`.
    private static func startsEscape(_ scalars: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + 6 < scalars.count, scalars[i + 1] == "x", scalars[i + 6] == "_" else { return false }
        return scalars[(i + 2)...(i + 5)].allSatisfy { $0.properties.isASCIIHexDigit }
    }
}
