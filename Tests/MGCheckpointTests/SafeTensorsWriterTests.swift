import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

final class SafeTensorsWriterTests: XCTestCase {
    /// One tensor of every dtype safetensors stores, with distinctive bytes.
    func everyDType() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (i, dtype) in DType.allCases.filter({ !$0.isBlockQuantized }).enumerated() {
            let shape = [2, i + 1]
            let count = shape.reduce(1, *) * dtype.size
            var bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 * 37 + i * 11 + 1) }
            if dtype == .bool { bytes = bytes.map { $0 & 1 } }
            tensors["t.\(dtype.rawValue.lowercased())"] = tensor(dtype, shape, bytes: bytes)
        }
        tensors["scalar"] = Tensor(scalar: 3.5)
        tensors["empty"] = Tensor.zeros([3, 0], dtype: .int64)
        return tensors
    }

    func assertSameTensors(
        _ read: [String: Tensor], _ written: [String: Tensor],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(Set(read.keys), Set(written.keys), file: file, line: line)
        for (key, expected) in written {
            guard let actual = read[key] else { continue }
            XCTAssertEqual(actual.dtype, expected.dtype, key, file: file, line: line)
            XCTAssertEqual(actual.shape, expected.shape, key, file: file, line: line)
            XCTAssertEqual(rawBytes(actual), rawBytes(expected), key, file: file, line: line)
        }
    }

    func temporaryFiles(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp-") }
    }

    // MARK: - Round trips

    func testRoundTripEveryDType() throws {
        let folder = try makeTemporaryFolder(self)
        let url = folder.appendingPathComponent("all.safetensors")
        let tensors = everyDType()
        let metadata = ["format": "pt", "step": "12"]
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: url)
        let file = try SafeTensorsFile(url: url)
        XCTAssertEqual(file.metadata, metadata)
        let read = try file.loadAll()
        assertSameTensors(read, tensors)
        // The reference's dtype order keeps every tensor aligned in the mapping.
        for key in file.keys where read[key]!.count > 0 {
            XCTAssertTrue(file.holds(read[key]!), "\(key) not zero-copy")
        }
        XCTAssertEqual(try temporaryFiles(in: folder), [])
        // `write` and `serialize` produce the same bytes.
        XCTAssertEqual(Array(try Data(contentsOf: url)), try SafeTensorsWriter.serialize(tensors, metadata: metadata))
    }

    func testInMemoryRoundTrip() throws {
        let tensors = everyDType()
        let file = try SafeTensorsFile(bytes: SafeTensorsWriter.serialize(tensors))
        XCTAssertEqual(file.metadata, [:])
        assertSameTensors(try file.loadAll(), tensors)
    }

    func testByteIdenticalToTheReferenceWriter() throws {
        let url = checkpointFixtures.appendingPathComponent("mixed-dtypes.safetensors")
        let file = try SafeTensorsFile(url: url)
        let bytes = try SafeTensorsWriter.serialize(file.loadAll(), metadata: file.metadata)
        XCTAssertEqual(bytes, Array(try Data(contentsOf: url)))
        let llama3 = Fixtures.url("models/llama3-tiny/model.safetensors")
        let model = try SafeTensorsFile(url: llama3)
        XCTAssertEqual(
            try SafeTensorsWriter.serialize(model.loadAll(), metadata: model.metadata),
            Array(try Data(contentsOf: llama3)))
    }

    func testHeaderIsPaddedToAMultipleOfEight() throws {
        for length in 1...17 {
            let key = String(repeating: "k", count: length)
            let bytes = try SafeTensorsWriter.serialize([key: Tensor([1, 2], shape: [2])])
            let n = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            XCTAssertEqual(n % 8, 0, "key length \(length)")
            XCTAssertEqual(Int(n) + 8 + 8, bytes.count)
            let header = String(decoding: bytes[8..<(8 + Int(n))], as: UTF8.self)
            let padding = header.reversed().prefix { $0 == " " }.count
            XCTAssertLessThan(padding, 8)
            XCTAssertEqual(
                String(header.dropLast(padding)),
                #"{""# + key + #"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#)
        }
    }

    func testMetadataIsEscapedAndOmittedWhenNil() throws {
        let metadata = ["quote\"back\\slash": "line\nfeed\ttab\u{1}\u{7F}é😀", "": ""]
        let bytes = try SafeTensorsWriter.serialize(["w": Tensor([1])], metadata: metadata)
        XCTAssertEqual(try SafeTensorsFile(bytes: bytes).metadata, metadata)
        let header = String(decoding: bytes[8...], as: UTF8.self)
        XCTAssertTrue(header.contains(#""quote\"back\\slash":"line\nfeed\ttab\u0001"#), header)

        let none = String(decoding: try SafeTensorsWriter.serialize(["w": Tensor([1])])[8...], as: UTF8.self)
        XCTAssertFalse(none.contains("__metadata__"))
        let empty = String(
            decoding: try SafeTensorsWriter.serialize(["w": Tensor([1])], metadata: [:])[8...], as: UTF8.self)
        XCTAssertTrue(empty.hasPrefix(#"{"__metadata__":{},"w":"#))
        let onlyMetadata = try SafeTensorsWriter.serialize([:], metadata: ["a": "b"])
        XCTAssertEqual(try SafeTensorsFile(bytes: onlyMetadata).metadata, ["a": "b"])
        XCTAssertEqual(try SafeTensorsFile(bytes: SafeTensorsWriter.serialize([:])).count, 0)
    }

    // MARK: - Atomic replacement

    func testOverwriteReplacesTheFileAtomically() throws {
        let folder = try makeTemporaryFolder(self)
        let url = folder.appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(["w": Tensor([1, 2])], to: url)
        let old = try SafeTensorsFile(url: url)
        let oldW = try old.tensor("w")
        try SafeTensorsWriter.write(["w": Tensor([3, 4, 5]), "b": Tensor([6])], to: url)
        // The rename leaves the old inode, and so the old mapping, intact.
        XCTAssertEqual(oldW.toArray(), [1, 2])
        let new = try SafeTensorsFile(url: url)
        XCTAssertEqual(try new.tensor("w").toArray(), [3, 4, 5])
        XCTAssertEqual(new.keys, ["b", "w"])
        XCTAssertEqual(try temporaryFiles(in: folder), [])
    }

    func testFailedRenameLeavesNoTemporaryFileAndDestinationUntouched() throws {
        // The destination is a non-empty directory: everything is written and fsync'd, then rename(2) fails.
        let folder = try makeTemporaryFolder(self)
        let destination = folder.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
        let inside = destination.appendingPathComponent("keep.txt")
        try Data("keep".utf8).write(to: inside)
        guard
            case let .io(path, operation, _) = expectCheckpointError({
                try SafeTensorsWriter.write(["w": Tensor([1, 2])], to: destination)
            })
        else { return XCTFail() }
        XCTAssertEqual(path, destination.path)
        XCTAssertEqual(operation, "rename")
        XCTAssertEqual(try temporaryFiles(in: folder), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: destination.path), ["keep.txt"])
        XCTAssertEqual(try Data(contentsOf: inside), Data("keep".utf8))
    }

    func testRejectedWritesTouchNothing() throws {
        let folder = try makeTemporaryFolder(self)
        let url = folder.appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(["w": Tensor([1, 2])], to: url)
        let before = try Data(contentsOf: url)

        let reserved = expectCheckpointError { try SafeTensorsWriter.write(["__metadata__": Tensor([1])], to: url) }
        guard case .invalidWrite(url.path, _) = reserved else { return XCTFail("\(String(describing: reserved))") }
        // A header over the limit (lowered from the format's 100,000,000 bytes to keep the test small).
        let error = expectCheckpointError {
            try SafeTensorsWriter.write(
                ["w": Tensor([1])], metadata: ["note": String(repeating: "x", count: 64)],
                to: url, headerLimit: 64)
        }
        XCTAssertEqual(error, .invalidWrite(path: url.path, reason: "header of 152 bytes exceeds the 64-byte limit"))

        XCTAssertEqual(try Data(contentsOf: url), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.safetensors"])
    }

    func testMissingFolder() throws {
        let folder = try makeTemporaryFolder(self)
        let url = folder.appendingPathComponent("no/such/model.safetensors")
        guard
            case let .io(path, operation, code) = expectCheckpointError({
                try SafeTensorsWriter.write(["w": Tensor([1])], to: url)
            })
        else { return XCTFail() }
        XCTAssertEqual(path, url.path)
        XCTAssertEqual(operation, "create temporary file")
        XCTAssertEqual(code, ENOENT)
    }

    /// ggml's block types have no safetensors dtype: writing one is refused, naming the tensor and the type.
    func testBlockQuantizedTensorsAreRefused() throws {
        let q = Tensor.zeros([2, 32]).converted(to: .q8_0)
        XCTAssertThrowsError(try SafeTensorsWriter.serialize(["w": q])) { error in
            XCTAssertTrue("\(error)".contains("tensor 'w': Q8_0 is a GGUF block type"), "\(error)")
        }
    }
}
