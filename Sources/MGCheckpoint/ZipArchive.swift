import Foundation
import MGJSON

// The zip container `torch.save` writes (PyTorch's `PyTorchStreamWriter`, built on miniz): every entry STORED
// (uncompressed), local headers with the data-descriptor flag and zero sizes (the real sizes are in the central
// directory and in a descriptor after the data), an "FB" extra field of 'Z' padding so each entry's data starts
// on a 64-byte boundary, and ZIP64 end records. Only the central directory and the local headers are read, so
// opening a 13 GB checkpoint touches a few kilobytes; entry data is addressed in place.
//
// Reference: PKWARE APPNOTE.TXT 6.3 (sections 4.3.7 local header, 4.3.12 central directory, 4.3.14–4.3.16 ZIP64
// and end records, 4.5.3 ZIP64 extra field).

/// One STORED entry of a zip archive: where its bytes lie in the file.
struct ZipEntry: Equatable {
    let name: String
    /// File offset of the entry's local header.
    let headerOffset: Int
    /// File offset of the first data byte.
    let dataOffset: Int
    /// Data length in bytes (compressed = uncompressed, since only STORED entries are accepted).
    let size: Int

    var dataRange: Range<Int> { dataOffset..<(dataOffset + size) }
}

/// The central directory of a zip archive held in memory (usually a file mapping), validated on init.
struct ZipArchive {
    let entries: [ZipEntry]
    private let index: [String: Int]

    private enum Signature {
        static let localHeader: UInt32 = 0x0403_4B50
        static let centralHeader: UInt32 = 0x0201_4B50
        static let endOfCentralDirectory: UInt32 = 0x0605_4B50
        static let zip64EndLocator: UInt32 = 0x0706_4B50
        static let zip64End: UInt32 = 0x0606_4B50
    }

    private static let endRecordSize = 22
    private static let zip64LocatorSize = 20
    private static let zip64EndSize = 56
    private static let centralHeaderSize = 46
    private static let localHeaderSize = 30
    private static let maxCommentLength = 0xFFFF

    /// Parses the end records and the central directory of `file`, then every entry's local header. `path` names
    /// the file in errors.
    init(file: UnsafeRawBufferPointer, path: String) throws {
        let reader = ZipReader(file: file, path: path)
        let end = try Self.findEndRecord(reader)
        let directory = try Self.readDirectoryLocation(reader, endRecord: end)

        var entries: [ZipEntry] = []
        entries.reserveCapacity(directory.count)
        var index: [String: Int] = [:]
        var position = directory.offset
        let directoryEnd = directory.offset + directory.size
        for _ in 0..<directory.count {
            let entry = try Self.readCentralEntry(
                reader, at: &position, directoryEnd: directoryEnd,
                dataLimit: directory.offset)
            if index[entry.name] != nil {
                throw CheckpointError.badZipEntry(
                    path: path, entry: entry.name, offset: entry.headerOffset,
                    reason: "the name occurs twice in the central directory")
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        guard position == directoryEnd else {
            throw CheckpointError.corruptZip(
                path: path, offset: position,
                reason: "central directory holds \(directoryEnd - position) bytes after its \(directory.count) "
                    + "entries (size \(directory.size) in the end record)")
        }
        try Self.checkNoOverlap(entries, path: path)
        self.entries = entries
        self.index = index
    }

    func entry(named name: String) -> ZipEntry? {
        index[name].map { entries[$0] }
    }

    // MARK: - End records

    /// The offset of the end-of-central-directory record: the last one whose comment runs exactly to the end of
    /// the file. The scan covers at most the 64 KiB a comment can take, so it always terminates quickly.
    private static func findEndRecord(_ reader: ZipReader) throws -> Int {
        let size = reader.file.count
        guard size >= endRecordSize else {
            throw CheckpointError.corruptZip(
                path: reader.path, offset: 0,
                reason: "file is \(size) bytes, too short for a zip end-of-central-directory record (truncated?)")
        }
        let lowest = max(0, size - endRecordSize - maxCommentLength)
        var offset = size - endRecordSize
        while offset >= lowest {
            // Compare the first byte before decoding the signature: the scan may cover 64 KiB of comment.
            if reader.file[offset] == 0x50, reader.u32Unchecked(offset) == Signature.endOfCentralDirectory,
                offset + endRecordSize + Int(reader.u16Unchecked(offset + 20)) == size
            {
                return offset
            }
            offset -= 1
        }
        throw CheckpointError.corruptZip(
            path: reader.path, offset: size,
            reason: "no end-of-central-directory record in the last \(size - lowest) bytes "
                + "(the file is truncated or not a zip archive)")
    }

    private struct DirectoryLocation {
        let offset: Int
        let size: Int
        let count: Int
    }

    /// Reads where the central directory is and how many entries it has, from the end record or, when present,
    /// the ZIP64 end record (the 32-bit fields are then 0xFFFFFFFF, as in any archive over 4 GiB).
    private static func readDirectoryLocation(_ reader: ZipReader, endRecord end: Int) throws -> DirectoryLocation {
        let path = reader.path
        let disk = try reader.u16(end + 4), directoryDisk = try reader.u16(end + 6)
        let entriesOnDisk = try reader.u16(end + 8), totalEntries = try reader.u16(end + 10)
        let size32 = try reader.u32(end + 12), offset32 = try reader.u32(end + 16)
        guard disk == 0, directoryDisk == 0, entriesOnDisk == totalEntries else {
            throw CheckpointError.corruptZip(
                path: path, offset: end,
                reason: "multi-disk archives are not supported (disk \(disk), central directory on disk "
                    + "\(directoryDisk), \(entriesOnDisk) of \(totalEntries) entries on this disk)")
        }

        var count = UInt64(totalEntries), size = UInt64(size32), offset = UInt64(offset32)
        var limit = end  // the central directory must end before this offset
        let locator = end - zip64LocatorSize
        if locator >= 0, reader.u32Unchecked(locator) == Signature.zip64EndLocator {
            let recordDisk = try reader.u32(locator + 4)
            let recordOffset = try reader.u64(locator + 8)
            let totalDisks = try reader.u32(locator + 16)
            guard recordDisk == 0, totalDisks <= 1 else {
                throw CheckpointError.corruptZip(
                    path: path, offset: locator,
                    reason: "ZIP64 locator names disk \(recordDisk) of \(totalDisks); multi-disk archives are not "
                        + "supported")
            }
            guard locator >= zip64EndSize, recordOffset <= UInt64(locator - zip64EndSize) else {
                throw CheckpointError.corruptZip(
                    path: path, offset: locator,
                    reason: "ZIP64 end record offset \(recordOffset) does not leave room for the 56-byte record "
                        + "before the locator at \(locator)")
            }
            let record = Int(recordOffset)
            guard try reader.u32(record) == Signature.zip64End else {
                throw CheckpointError.corruptZip(
                    path: path, offset: record,
                    reason: String(
                        format: "expected the ZIP64 end-of-central-directory signature 0x06064b50, found "
                            + "0x%08x", try reader.u32(record)))
            }
            let recordDisk64 = try reader.u32(record + 16), directoryDisk64 = try reader.u32(record + 20)
            let onDisk64 = try reader.u64(record + 24), total64 = try reader.u64(record + 32)
            guard recordDisk64 == 0, directoryDisk64 == 0, onDisk64 == total64 else {
                throw CheckpointError.corruptZip(
                    path: path, offset: record,
                    reason: "multi-disk archives are not supported (ZIP64 end record: disk \(recordDisk64), "
                        + "central directory on disk \(directoryDisk64), \(onDisk64) of \(total64) entries)")
            }
            // The 64-bit values replace the 32-bit ones that are saturated (APPNOTE 4.4.1.4); writers (miniz
            // among them) may also fill both, in which case they must agree.
            let size64 = try reader.u64(record + 40), offset64 = try reader.u64(record + 48)
            if totalEntries == 0xFFFF || UInt64(totalEntries) == total64 {
                count = total64
            } else {
                throw mismatch(reader, record, "entry count", UInt64(totalEntries), total64)
            }
            if size32 == 0xFFFF_FFFF || UInt64(size32) == size64 {
                size = size64
            } else {
                throw mismatch(reader, record, "central directory size", UInt64(size32), size64)
            }
            if offset32 == 0xFFFF_FFFF || UInt64(offset32) == offset64 {
                offset = offset64
            } else {
                throw mismatch(reader, record, "central directory offset", UInt64(offset32), offset64)
            }
            limit = record
        } else if totalEntries == 0xFFFF || size32 == 0xFFFF_FFFF || offset32 == 0xFFFF_FFFF {
            throw CheckpointError.corruptZip(
                path: path, offset: end,
                reason: "the end record has saturated ZIP64 fields but no ZIP64 locator precedes it")
        }

        guard offset <= UInt64(limit), size <= UInt64(limit) - offset else {
            throw CheckpointError.corruptZip(
                path: path, offset: end,
                reason: "central directory (offset \(offset), size \(size)) runs past the end records at \(limit) "
                    + "(truncated or damaged file)")
        }
        // Every entry takes at least 46 bytes, which bounds the count before anything is allocated for it.
        guard count <= size / UInt64(centralHeaderSize) else {
            throw CheckpointError.corruptZip(
                path: path, offset: end,
                reason: "\(count) entries cannot fit in a central directory of \(size) bytes")
        }
        return DirectoryLocation(offset: Int(offset), size: Int(size), count: Int(count))
    }

    private static func mismatch(
        _ reader: ZipReader, _ offset: Int, _ what: String, _ small: UInt64,
        _ large: UInt64
    ) -> CheckpointError {
        .corruptZip(
            path: reader.path, offset: offset,
            reason: "\(what) is \(small) in the end record but \(large) in the ZIP64 end record")
    }

    // MARK: - Entries

    /// Reads the central-directory header at `position` (advancing it) and the entry's local header.
    /// `dataLimit` is the start of the central directory: entry data must end before it.
    private static func readCentralEntry(
        _ reader: ZipReader, at position: inout Int, directoryEnd: Int,
        dataLimit: Int
    ) throws -> ZipEntry {
        let path = reader.path
        let start = position
        guard directoryEnd - start >= centralHeaderSize else {
            throw CheckpointError.corruptZip(
                path: path, offset: start,
                reason: "central directory ends inside an entry header")
        }
        let signature = try reader.u32(start)
        guard signature == Signature.centralHeader else {
            throw CheckpointError.corruptZip(
                path: path, offset: start,
                reason: String(format: "expected a central directory header (0x02014b50), found 0x%08x", signature))
        }
        let flags = try reader.u16(start + 8), method = try reader.u16(start + 10)
        let compressed32 = try reader.u32(start + 20), uncompressed32 = try reader.u32(start + 24)
        let nameLength = Int(try reader.u16(start + 28)), extraLength = Int(try reader.u16(start + 30))
        let commentLength = Int(try reader.u16(start + 32)), diskStart = try reader.u16(start + 34)
        let headerOffset32 = try reader.u32(start + 42)
        let variableEnd = start + centralHeaderSize + nameLength + extraLength + commentLength
        guard variableEnd <= directoryEnd else {
            throw CheckpointError.corruptZip(
                path: path, offset: start,
                reason: "entry name/extra/comment (\(nameLength) + \(extraLength) + \(commentLength) bytes) run past "
                    + "the end of the central directory")
        }
        let nameStart = start + centralHeaderSize
        let name = try reader.utf8(nameStart, nameLength, what: "entry name")
        position = variableEnd

        // ZIP64 extra field (id 0x0001): holds, in this order, only the values whose 32-bit field is saturated.
        var uncompressed = UInt64(uncompressed32), compressed = UInt64(compressed32)
        var headerOffset = UInt64(headerOffset32)
        let needs = (uncompressed32 == 0xFFFF_FFFF, compressed32 == 0xFFFF_FFFF, headerOffset32 == 0xFFFF_FFFF)
        if needs.0 || needs.1 || needs.2 || diskStart == 0xFFFF {
            guard
                let field = try findExtraField(
                    reader, id: 0x0001, start: nameStart + nameLength,
                    length: extraLength, entry: name)
            else {
                throw CheckpointError.badZipEntry(
                    path: path, entry: name, offset: start,
                    reason: "32-bit size/offset fields are saturated but there is no ZIP64 extra field")
            }
            var cursor = field.lowerBound
            func next() throws -> UInt64 {
                guard cursor + 8 <= field.upperBound else {
                    throw CheckpointError.badZipEntry(
                        path: path, entry: name, offset: start,
                        reason: "ZIP64 extra field is too short")
                }
                defer { cursor += 8 }
                return try reader.u64(cursor)
            }
            if needs.0 { uncompressed = try next() }
            if needs.1 { compressed = try next() }
            if needs.2 { headerOffset = try next() }
        }
        guard diskStart == 0 || diskStart == 0xFFFF else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: start,
                reason: "entry starts on disk \(diskStart); multi-disk archives "
                    + "are not supported")
        }
        guard method == 0 else {
            let kind = method == 8 ? "deflate-compressed" : "compressed with method \(method)"
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: start,
                reason: "entry is \(kind); torch.save stores entries uncompressed (method 0), so the archive was "
                    + "re-packed by another tool — extract and re-zip it with `zip -0`, or re-save it with torch.save")
        }
        guard flags & 0x0001 == 0 else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: start,
                reason: "entry is encrypted")
        }
        guard compressed == uncompressed else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: start,
                reason: "stored entry has compressed size \(compressed) but uncompressed size \(uncompressed)")
        }
        guard headerOffset <= UInt64(dataLimit) else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: start,
                reason: "local header offset \(headerOffset) lies beyond the start of the central directory "
                    + "(\(dataLimit))")
        }
        return try readLocalHeader(
            reader, entry: name, headerOffset: Int(headerOffset), size: uncompressed,
            dataLimit: dataLimit)
    }

    /// Checks the local header at `headerOffset` and returns where the data starts: after the header, the name
    /// and the local extra field (whose length can differ from the central one: torch pads it for alignment).
    private static func readLocalHeader(
        _ reader: ZipReader, entry name: String, headerOffset: Int, size: UInt64,
        dataLimit: Int
    ) throws -> ZipEntry {
        let path = reader.path
        guard dataLimit - headerOffset >= localHeaderSize else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: "local header at \(headerOffset) runs into the central directory at \(dataLimit)")
        }
        let signature = try reader.u32(headerOffset)
        guard signature == Signature.localHeader else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: String(format: "expected a local header (0x04034b50), found 0x%08x", signature))
        }
        let method = try reader.u16(headerOffset + 8)
        let nameLength = Int(try reader.u16(headerOffset + 26))
        let extraLength = Int(try reader.u16(headerOffset + 28))
        guard method == 0 else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: "local header says compression method \(method), the central directory says 0")
        }
        let dataOffset = headerOffset + localHeaderSize + nameLength + extraLength
        guard dataOffset <= dataLimit else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: "local header name/extra run into the central directory at \(dataLimit)")
        }
        let localName = try reader.utf8(headerOffset + localHeaderSize, nameLength, what: "local entry name")
        guard localName == name else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: "local header names '\(localName)', the central directory '\(name)'")
        }
        guard size <= UInt64(dataLimit - dataOffset) else {
            throw CheckpointError.badZipEntry(
                path: path, entry: name, offset: headerOffset,
                reason: "\(size) bytes of data from offset \(dataOffset) run past the start of the central "
                    + "directory at \(dataLimit) (truncated or damaged file)")
        }
        return ZipEntry(name: name, headerOffset: headerOffset, dataOffset: dataOffset, size: Int(size))
    }

    /// The byte range of the extra-field record `id` within an extra area, or nil if absent.
    private static func findExtraField(
        _ reader: ZipReader, id: UInt16, start: Int, length: Int,
        entry: String
    ) throws -> Range<Int>? {
        var cursor = start
        let end = start + length
        while end - cursor >= 4 {
            let fieldID = try reader.u16(cursor), fieldLength = Int(try reader.u16(cursor + 2))
            let body = cursor + 4
            guard fieldLength <= end - body else {
                throw CheckpointError.badZipEntry(
                    path: reader.path, entry: entry, offset: cursor,
                    reason: String(
                        format: "extra field 0x%04x of \(fieldLength) bytes runs past the extra area",
                        fieldID))
            }
            if fieldID == id { return body..<(body + fieldLength) }
            cursor = body + fieldLength
        }
        return nil
    }

    /// Entries may not share bytes: a header or data range overlapping another entry's means a crafted or
    /// damaged archive (two names for the same bytes, or a header hidden inside data).
    private static func checkNoOverlap(_ entries: [ZipEntry], path: String) throws {
        let sorted = entries.sorted { $0.headerOffset < $1.headerOffset }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where next.headerOffset < previous.dataRange.upperBound
        {
            throw CheckpointError.badZipEntry(
                path: path, entry: next.name, offset: next.headerOffset,
                reason: "local header at \(next.headerOffset) overlaps entry '\(previous.name)' "
                    + "(bytes \(previous.headerOffset)..<\(previous.dataRange.upperBound))")
        }
    }
}

/// Bounds-checked little-endian reads from a buffer; every read past the end is an error, never a trap.
private struct ZipReader {
    let file: UnsafeRawBufferPointer
    let path: String

    private func check(_ offset: Int, _ width: Int) throws {
        guard offset >= 0, offset <= file.count - width else {
            throw CheckpointError.corruptZip(
                path: path, offset: offset,
                reason: "a \(width)-byte field runs past the end of the \(file.count)-byte file (truncated?)")
        }
    }

    func u16(_ offset: Int) throws -> UInt16 { try check(offset, 2); return u16Unchecked(offset) }
    func u32(_ offset: Int) throws -> UInt32 { try check(offset, 4); return u32Unchecked(offset) }
    func u64(_ offset: Int) throws -> UInt64 {
        try check(offset, 8)
        return UInt64(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Callers guarantee `offset + 2 <= file.count`.
    func u16Unchecked(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Callers guarantee `offset + 4 <= file.count`.
    func u32Unchecked(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: file.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func utf8(_ offset: Int, _ length: Int, what: String) throws -> String {
        try check(offset, length)
        let bytes = UnsafeRawBufferPointer(rebasing: file[offset..<(offset + length)])
        if let bad = UTF8Text.firstInvalidOffset(in: bytes) {
            throw CheckpointError.corruptZip(
                path: path, offset: offset + bad,
                reason: "\(what) is not valid UTF-8")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
