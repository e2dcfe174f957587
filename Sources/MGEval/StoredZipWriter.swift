// MGEval — a minimal ZIP writer (stored entries, no compression) for the .xlsx results: an xlsx is a ZIP of XML
// parts, and "stored" is a valid method every reader (Excel, LibreOffice, openpyxl, pandas) accepts. Entries get a
// fixed 1980-01-01 timestamp so the same results give the same bytes.
import Foundation

struct StoredZipWriter {
    private var body = Data()
    private var central = Data()
    private var count = 0

    /// Appends a file. Names are UTF-8 (flag bit 11); sizes must fit the classic 32-bit fields.
    mutating func add(_ name: String, _ data: Data) throws {
        let nameBytes = Data(name.utf8)
        guard data.count < 0xFFFF_FFFF, body.count < 0xFFFF_FFFF, nameBytes.count < 0xFFFF else {
            throw EvalError.writeFailed(file: name, detail: "too large for a ZIP without zip64")
        }
        let crc = CRC32.checksum(data)
        let offset = UInt32(body.count)
        var local = Data()
        local.le32(0x0403_4b50)
        local.le16(20)  // version needed: 2.0
        local.le16(0x0800)  // UTF-8 names
        local.le16(0)  // stored
        local.le16(0)  // time 00:00:00
        local.le16(0x21)  // date 1980-01-01
        local.le32(crc)
        local.le32(UInt32(data.count))
        local.le32(UInt32(data.count))
        local.le16(UInt16(nameBytes.count))
        local.le16(0)  // no extra field
        body.append(local)
        body.append(nameBytes)
        body.append(data)

        var entry = Data()
        entry.le32(0x0201_4b50)
        entry.le16(20)  // made by: 2.0
        entry.le16(20)
        entry.le16(0x0800)
        entry.le16(0)
        entry.le16(0)
        entry.le16(0x21)
        entry.le32(crc)
        entry.le32(UInt32(data.count))
        entry.le32(UInt32(data.count))
        entry.le16(UInt16(nameBytes.count))
        entry.le16(0)  // extra
        entry.le16(0)  // comment
        entry.le16(0)  // disk
        entry.le16(0)  // internal attributes
        entry.le32(0)  // external attributes
        entry.le32(offset)
        central.append(entry)
        central.append(nameBytes)
        count += 1
    }

    /// The archive: the entries, the central directory and its end record.
    func finish() -> Data {
        var out = body
        out.append(central)
        var end = Data()
        end.le32(0x0605_4b50)
        end.le16(0)
        end.le16(0)
        end.le16(UInt16(count))
        end.le16(UInt16(count))
        end.le32(UInt32(central.count))
        end.le32(UInt32(body.count))
        end.le16(0)
        out.append(end)
        return out
    }
}

/// CRC-32 (IEEE 802.3, the ZIP polynomial 0xEDB88320, reflected).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

extension Data {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xFF)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(shift)) & 0xFF)) }
    }
}
