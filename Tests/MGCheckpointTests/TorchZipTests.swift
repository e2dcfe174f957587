import Foundation
import XCTest
@testable import MGCheckpoint

/// The zip container: layouts torch and other writers produce, and one test per defence.
final class TorchZipTests: XCTestCase {
    /// `{'w': tensor([1, 2, 3])}` with its storage.
    let pickle = oneTensorPickle(numel: 3, shape: [3])
    let storage: [String: [UInt8]] = ["0": f32Bytes([1, 2, 3])]

    func entries(folder: String = "archive") -> [ZipSpec] {
        [
            ZipSpec(folder + "/data.pkl", pickle), ZipSpec(folder + "/byteorder", "little"),
            ZipSpec(folder + "/data/0", f32Bytes([1, 2, 3])), ZipSpec(folder + "/version", "3\n")
        ]
    }

    func assertReads(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNoThrow(
            try {
                let checkpoint = try openTorch(bytes)
                XCTAssertEqual(try checkpoint.tensor("w").toArray(), [1, 2, 3], file: file, line: line)
            }(), file: file, line: line)
    }

    // MARK: - Accepted layouts

    func testTorchLayoutAndVariants() throws {
        assertReads(torchArchive(pickle, storages: storage))
        // Folder name differs between writers and versions.
        assertReads(torchArchive(pickle, storages: storage, folder: "pytorch_model"))
        // Plain 32-bit archive without ZIP64 end records, sizes in the local headers.
        var plain = ZipWriter(entries().map { ZipSpec($0.name, $0.data, flags: 0) })
        plain.zip64EndRecords = false
        assertReads(plain.build())
        // An archive comment after the end record.
        var commented = ZipWriter(entries())
        commented.comment = Array("written by a test".utf8) + [UInt8](repeating: 0x50, count: 300)
        assertReads(commented.build())
        // No padding extra field, as other zip writers produce: data wherever it falls.
        let unaligned = try openTorch(torchArchive(pickle, storages: storage, alignment: 1))
        XCTAssertEqual(try unaligned.tensor("w").toArray(), [1, 2, 3])
    }

    /// Archives over 4 GiB saturate the 32-bit fields and keep the real values in ZIP64 records and extra fields.
    func testZip64Fields() throws {
        let bytes = torchArchive(pickle, storages: storage, forceZip64: true)
        XCTAssertEqual(Array(bytes.suffix(22).prefix(4)), le32(0x0605_4B50))
        XCTAssertEqual(
            Array(bytes.suffix(22)[(bytes.count - 22 + 12)..<(bytes.count - 22 + 20)]),
            le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF))
        assertReads(bytes)
    }

    /// A real ZIP64 archive: a 4.5 GiB storage (a hole in a sparse file, so nothing is written) followed by an
    /// entry whose local header lies beyond 4 GiB, as in any multi-gigabyte checkpoint. Opening it maps the file
    /// and reads only the directory and the pickle; the tensors are views into the mapping.
    func testEntriesBeyondFourGiB() throws {
        let bigCount = (9 << 29) / 4  // 4.5 GiB of float32
        var p = PickleWriter()
        p.beginStateDict()
        p.string("big"); p.tensor(key: "0", numel: bigCount, shape: [bigCount])
        p.string("small"); p.tensor(key: "1", numel: 3, shape: [3])
        p.endStateDict()
        p.stop()
        var writer = ZipWriter([
            ZipSpec("archive/data.pkl", p.bytes), ZipSpec("archive/byteorder", "little"),
            .hole("archive/data/0", size: bigCount * 4), ZipSpec("archive/data/1", f32Bytes([1, 2, 3])),
            ZipSpec("archive/version", "3\n")
        ])
        writer.forceZip64 = true
        let url = try makeTemporaryFolder(self).appendingPathComponent("big.pth")
        try writer.write(to: url)
        var info = stat()
        guard stat(url.path, &info) == 0, Int(info.st_blocks) * 512 < 64 << 20 else {
            try? FileManager.default.removeItem(at: url)
            throw XCTSkip("this filesystem does not keep sparse files sparse")
        }
        XCTAssertGreaterThan(Int(info.st_size), 1 << 32)

        let file = try TorchCheckpointFile(url: url)
        XCTAssertEqual(try file.info(for: "big").elementCount, bigCount)
        let small = try file.tensor("small")
        XCTAssertEqual(small.toArray(), [1, 2, 3])
        XCTAssertTrue(file.holds(small))
        let bigStart = UnsafeRawPointer(try file.tensor("big").storage.pointer)
        XCTAssertGreaterThan(
            UnsafeRawPointer(small.storage.pointer) - bigStart, 1 << 32,
            "the small storage lies beyond 4 GiB")
        let big = try file.tensor("big")
        XCTAssertTrue(file.holds(big))
        XCTAssertEqual(big.storage.floats[bigCount - 1], 0)
    }

    // MARK: - Defences

    func testCompressedEntryIsRefused() {
        var list = entries()
        list[2].method = 8
        openError(ZipWriter(list).build(), "zip entry 'archive/data/0'", "deflate-compressed", "method 0")
    }

    func testEncryptedEntryIsRefused() {
        var list = entries()
        list[0].flags |= 1
        openError(ZipWriter(list).build(), "archive/data.pkl", "encrypted")
    }

    func testLocalHeaderOffsetOutsideTheFile() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        patch(&bytes, at: layout.centralHeaders[2] + 42, le32(UInt32(bytes.count + 1000)))
        openError(bytes, "zip entry 'archive/data/0'", "beyond the start of the central directory")
    }

    func testEntrySizeRunsPastTheData() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        patch(&bytes, at: layout.centralHeaders[3] + 20, le32(1_000_000) + le32(1_000_000))
        openError(bytes, "zip entry 'archive/version'", "1000000 bytes of data", "run past the start of the central")
    }

    func testStoredSizesMustAgree() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        patch(&bytes, at: layout.centralHeaders[2] + 20, le32(5))
        openError(bytes, "compressed size 5 but uncompressed size 12")
    }

    func testOverlappingEntriesAreRefused() throws {
        // data/1's bytes are a complete local header + data for "archive/data/0", and the central directory
        // points data/0 inside them: two names over the same bytes.
        var inner = ZipWriter([ZipSpec("archive/data/0", f32Bytes([1, 2, 3]), flags: 0)])
        inner.alignment = 1
        inner.zip64EndRecords = false
        let innerBytes = inner.buildWithLayout()
        let hidden = Array(innerBytes.bytes[0..<innerBytes.layout.centralOffset])
        var list = entries()
        list.insert(ZipSpec("archive/data/1", hidden), at: 2)
        var (bytes, layout) = ZipWriter(list).buildWithLayout()
        patch(&bytes, at: layout.centralHeaders[3] + 42, le32(UInt32(layout.dataOffsets[2])))
        openError(bytes, "overlaps entry 'archive/data/1'")
    }

    func testDuplicateNamesAreRefused() {
        var list = entries()
        list.append(ZipSpec("archive/data/0", f32Bytes([4, 5, 6])))
        openError(ZipWriter(list).build(), "zip entry 'archive/data/0'", "occurs twice")
    }

    func testLocalNameMustMatchTheDirectory() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        // Point data/0's directory entry at the version entry's local header.
        patch(&bytes, at: layout.centralHeaders[2] + 42, le32(UInt32(layout.localHeaders[3])))
        openError(bytes, "local header names 'archive/version', the central directory 'archive/data/0'")
    }

    func testTruncationsAndMissingDirectory() {
        let bytes = torchArchive(pickle, storages: storage)
        // Every prefix is refused (most lose the end record; short ones are not even zip files).
        for length in stride(from: 0, to: bytes.count, by: 7) {
            XCTAssertNotNil(expectTorchError { try openTorch(Array(bytes.prefix(length))) }, "length \(length)")
        }
        openError(Array(bytes.prefix(bytes.count / 2)), "no end-of-central-directory record")
        openError(Array(bytes.prefix(3)), "not a torch.save checkpoint")
    }

    func testEndRecordDefences() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        // Directory offset beyond the end records.
        var bad = bytes
        patch(&bad, at: layout.zip64End! + 48, le64(UInt64(bytes.count)))
        patch(&bad, at: layout.endRecord + 16, le32(UInt32(bytes.count)))
        openError(bad, "central directory (offset \(bytes.count)", "runs past the end records")
        // More entries than the directory's bytes can hold ("absurd count").
        bad = bytes
        patch(&bad, at: layout.zip64End! + 24, le64(1 << 40) + le64(1 << 40))
        patch(&bad, at: layout.endRecord + 8, le16(0xFFFF) + le16(0xFFFF))
        openError(bad, "1099511627776 entries cannot fit in a central directory")
        // The count says more entries than there are headers.
        bad = bytes
        patch(&bad, at: layout.zip64End! + 24, le64(5) + le64(5))
        patch(&bad, at: layout.endRecord + 8, le16(5) + le16(5))
        openError(bad, "central directory")
        // Fewer: bytes left over.
        bad = bytes
        patch(&bad, at: layout.zip64End! + 24, le64(3) + le64(3))
        patch(&bad, at: layout.endRecord + 8, le16(3) + le16(3))
        openError(bad, "bytes after its 3 entries")
        // The ZIP64 locator points at garbage.
        bad = bytes
        patch(&bad, at: layout.zip64Locator! + 8, le64(7))
        openError(bad, "expected the ZIP64 end-of-central-directory signature")
        // 32-bit and 64-bit values disagree.
        bad = bytes
        patch(&bad, at: layout.endRecord + 12, le32(UInt32(layout.centralSize + 1)))
        openError(bad, "central directory size is \(layout.centralSize + 1) in the end record")
        // Multi-disk.
        bad = bytes
        patch(&bad, at: layout.endRecord + 4, le16(1))
        openError(bad, "multi-disk")
        // Saturated fields without ZIP64 records.
        var writer = ZipWriter(entries())
        writer.zip64EndRecords = false
        (bytes, layout) = writer.buildWithLayout()
        patch(&bytes, at: layout.endRecord + 16, le32(0xFFFF_FFFF))
        openError(bytes, "no ZIP64 locator")
    }

    func testZip64ExtraFieldMustBePresentAndLongEnough() {
        var (bytes, layout) = ZipWriter(entries()).buildWithLayout()
        patch(&bytes, at: layout.centralHeaders[1] + 24, le32(0xFFFF_FFFF))
        openError(bytes, "zip entry 'archive/byteorder'", "no ZIP64 extra field")
    }

    // MARK: - torch.save structure

    func testTorchStructureErrors() {
        openError(ZipWriter([]).build(), "no entry 'data.pkl'", "empty")
        openError(ZipWriter([ZipSpec("data.pkl", pickle)]).build(), "one top folder")
        openError(
            ZipWriter([ZipSpec("archive/version", "3\n"), ZipSpec("archive/pickle.pkl", pickle)]).build(),
            "no entry 'archive/data.pkl'")
        openError(
            ZipWriter([ZipSpec("archive/data.pkl", pickle), ZipSpec("archive/constants.pkl", [0x80, 2, 0x2E])])
                .build(), "TorchScript")
        openError(
            torchArchive(pickle, storages: storage, byteOrder: "middle"),
            "archive/byteorder is 'middle', expected 'little' or 'big'")
        // A missing byteorder means little-endian, as torch assumes for old files.
        assertReads(torchArchive(pickle, storages: storage, byteOrder: nil))
    }

    func testLegacyAndForeignFormats() {
        // torch.save(_use_new_zipfile_serialization=False): the magic number pickled first.
        let legacy: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        XCTAssertEqual(
            openError(
                legacy + [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E], "legacy torch.save format",
                "re-save it with a current PyTorch"),
            .legacyFormat(
                path: "test.pth",
                detail: "a pickle stream with the magic number "
                    + "0x1950a86a20f9469cfc6c"))
        var tar = [UInt8](repeating: 0, count: 1024)
        patch(&tar, at: 0, Array("sys_info".utf8))
        patch(&tar, at: 257, Array("ustar".utf8))
        XCTAssertEqual(
            openError(tar, "legacy torch.save format"), .legacyFormat(path: "test.pth", detail: "a tar archive"))
        openError([0x80, 0x04, 0x4E, 0x2E], "a bare pickle stream")
        openError(Array("{\"weight_map\": {}}".utf8), "not a zip local header")
        openError(SafeTensorsWriterBytes.tiny, "not a zip local header")
    }
}

/// A small safetensors file, to show the torch reader refuses other formats clearly.
enum SafeTensorsWriterBytes {
    static let tiny: [UInt8] = safetensorsBytes(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        data: [0, 0, 128, 63])
}
