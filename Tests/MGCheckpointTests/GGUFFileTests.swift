import Foundation
import XCTest
@testable import MGCheckpoint

/// The GGUF reader and writer against files llama.cpp's own converter wrote (Tests/Fixtures/gguf, see the README),
/// and against damaged files.
final class GGUFFileTests: XCTestCase {
    let ggufFixtures = checkpointFixtures.deletingLastPathComponent().appendingPathComponent("gguf")

    func fixture(_ name: String) -> URL { ggufFixtures.appendingPathComponent(name) }

    func testReadsTheConverterOutput() throws {
        let file = try GGUFFile(path: fixture("vicuna-tiny-q8_0.gguf").path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(file.tensorInfos.count, 21)
        XCTAssertEqual(file.metadata.count, 28)
        XCTAssertEqual(file["llama.embedding_length"], .uint32(64))
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.elements?.count, 700)
        XCTAssertEqual(file["tokenizer.ggml.tokens"]?.elements?[1], .string(Array("<s>".utf8)))
        let embedding = try file.tensorInfo("token_embd.weight")
        XCTAssertEqual(embedding.type.name, "Q8_0")
        XCTAssertEqual(embedding.dimensions, [64, 700])
        XCTAssertEqual(embedding.shape, [700, 64])
        XCTAssertEqual(embedding.byteCount, 700 * 2 * 34)
        // ffn_down rows (176 values) are not whole Q8_0 blocks: the converter kept them in F16.
        XCTAssertEqual(try file.tensorInfo("blk.0.ffn_down.weight").type.name, "F16")
        let t = try file.tensor("token_embd.weight")
        XCTAssertEqual(t.dtype, .q8_0)
        XCTAssertEqual(t.shape, [700, 64])
        XCTAssertEqual(try file.tensor("output_norm.weight").dtype, .float32)
        XCTAssertEqual(try file.info(for: "blk.1.attn_q.weight").dtype, "Q8_0")
        // Checkpoint.open reads it like any other weights file.
        XCTAssertEqual(try Checkpoint.open(fixture("vicuna-tiny-q8_0.gguf")).keys, file.keys)
    }

    /// Writing back what was read gives llama.cpp's bytes exactly: same layout, padding and metadata encoding.
    func testWriterReproducesTheConverterBytes() throws {
        for name in ["vicuna-tiny-q8_0.gguf", "vicuna-tiny-f32.gguf", "vicuna-tiny-bf16.gguf"] {
            let original = fixture(name)
            let file = try GGUFFile(path: original.path)
            let out = try makeTemporaryFolder(self).appendingPathComponent(name)
            let entries = file.tensorInfos.map { GGUFWriter.Entry(name: $0.name, shape: $0.shape, type: $0.type) }
            try GGUFWriter.write(to: out, metadata: file.metadata, entries: entries) { i in
                try file.tensor(entries[i].name)
            }
            XCTAssertEqual(try Data(contentsOf: out), try Data(contentsOf: original), name)
        }
    }

    func testEveryTruncationIsAnError() throws {
        let bytes = try [UInt8](Data(contentsOf: fixture("vicuna-tiny-q8_0.gguf")))
        let folder = try makeTemporaryFolder(self)
        // Every length through the fixed header and the first metadata, a spread over the vocabulary (the bulk of
        // the header) and every length through the tensor descriptions, then a spread over the data section.
        let file = try GGUFFile(path: fixture("vicuna-tiny-q8_0.gguf").path)
        let headerEnd = file.tensorInfos[0].offset
        let descriptions = headerEnd - 21 * 48  // at most 48 bytes per tensor description here
        var lengths = Array(0..<600) + stride(from: 600, to: descriptions, by: 61).map { $0 }
        lengths += Array(descriptions..<headerEnd)
        lengths += stride(from: headerEnd, to: bytes.count, by: 997).map { $0 } + [bytes.count - 1]
        for n in lengths {
            let url = folder.appendingPathComponent("cut.gguf")
            try Data(bytes[0..<n]).write(to: url)
            XCTAssertThrowsError(try GGUFFile(path: url.path), "length \(n)") { error in
                XCTAssertTrue(error is GGUFError || error is CheckpointError, "length \(n): \(error)")
            }
        }
    }

    /// Random byte changes in the header never crash the reader, and whatever it accepts stays inside the file.
    func testMutatedHeadersAreRefusedOrSafe() throws {
        let bytes = try [UInt8](Data(contentsOf: fixture("vicuna-tiny-q8_0.gguf")))
        let headerEnd = try GGUFFile(path: fixture("vicuna-tiny-q8_0.gguf").path).tensorInfos[0].offset
        let url = try makeTemporaryFolder(self).appendingPathComponent("mutated.gguf")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var accepted = 0
        for _ in 0..<300 {
            var mutated = bytes
            for _ in 0..<(1 + next() % 3) {
                let at = next() % headerEnd
                mutated[at] = [0x00, 0xff, 0x7f, 0x80, UInt8(truncatingIfNeeded: next())][next() % 5]
            }
            try Data(mutated).write(to: url)
            do {
                let file = try GGUFFile(path: url.path)
                accepted += 1
                for t in file.tensorInfos {
                    XCTAssertLessThanOrEqual(t.offset + t.byteCount, mutated.count, t.name)
                    if t.type.dtype != nil { _ = try file.tensor(t.name) }
                }
            } catch is GGUFError {
            } catch is CheckpointError {
            }
        }
        XCTAssertGreaterThan(accepted, 0, "some mutations (in token text, say) leave a valid file")
    }

    func testNamedErrors() throws {
        let bytes = try [UInt8](Data(contentsOf: fixture("vicuna-tiny-f32.gguf")))
        let url = try makeTemporaryFolder(self).appendingPathComponent("bad.gguf")
        func attempt(_ mutate: (inout [UInt8]) -> Void) -> GGUFError? {
            var b = bytes
            mutate(&b)
            try? Data(b).write(to: url)
            do {
                _ = try GGUFFile(path: url.path)
                return nil
            } catch {
                return error as? GGUFError
            }
        }
        XCTAssertEqual(attempt { $0[0] = UInt8(ascii: "X") }, .notGGUF(path: url.path, magic: Array("XGUF".utf8)))
        XCTAssertEqual(attempt { $0[4] = 1 }, .unsupportedVersion(path: url.path, version: 1))
        XCTAssertEqual(
            attempt { $0.replaceSubrange(4..<8, with: [0, 0, 0, 3]) },
            .unsupportedVersion(path: url.path, version: 0x0300_0000))
        // The first tensor description: name "token_embd.weight" then rank, dims, type, offset.
        let name = Array("token_embd.weight".utf8)
        let at = try XCTUnwrap(firstRange(of: name, in: bytes)).upperBound
        guard case .invalidTensor(_, "token_embd.weight", let reason)? = attempt({ $0[at] = 5 }) else {
            return XCTFail("rank 5 should be refused")
        }
        XCTAssertTrue(reason.contains("5 dimensions"), reason)
        let typeAt = at + 4 + 16
        guard case .invalidTensor(_, "token_embd.weight", let reason2)? = attempt({ $0[typeAt] = 99 }) else {
            return XCTFail("type 99 should be refused")
        }
        XCTAssertTrue(reason2.contains("unknown ggml type id 99"), reason2)
        guard case .invalidTensor(_, "token_embd.weight", let reason3)? = attempt({ $0[typeAt + 4] = 8 }) else {
            return XCTFail("a misplaced offset should be refused")
        }
        XCTAssertTrue(reason3.contains("data offset 8 should be 0"), reason3)
        // Q4_K rows must be whole blocks of 256: 64 values are not.
        guard case .invalidTensor(_, "token_embd.weight", let reason4)? = attempt({ $0[typeAt] = 12 }) else {
            return XCTFail("rows of 64 are not Q4_K blocks")
        }
        XCTAssertTrue(reason4.contains("not whole Q4_K blocks"), reason4)
        // A duplicated metadata key: rename general.type to general.name's spelling… both 12 bytes.
        let type = try XCTUnwrap(firstRange(of: Array("general.type".utf8), in: bytes))
        guard
            case .invalidMetadata(_, "general.name", _)? = attempt({ b in
                b.replaceSubrange(type, with: Array("general.name".utf8))
            })
        else { return XCTFail("a duplicate key should be refused") }
    }

    /// A file may hold types that parse but do not load (here the last tensor relabelled I16): the error comes when
    /// that tensor is read, naming it and the type.
    func testUnsupportedTypeIsNamedWhenRead() throws {
        var bytes = try [UInt8](Data(contentsOf: fixture("vicuna-tiny-q8_0.gguf")))
        let name = Array("output_norm.weight".utf8)
        let at = try XCTUnwrap(firstRange(of: name, in: bytes)).upperBound + 4 + 8  // rank, one dimension
        XCTAssertEqual(bytes[at], 0, "F32")
        bytes[at] = 25
        let url = try makeTemporaryFolder(self).appendingPathComponent("i16.gguf")
        try Data(bytes).write(to: url)
        let file = try GGUFFile(path: url.path)
        XCTAssertEqual(try file.tensorInfo("output_norm.weight").byteCount, 64 * 2)
        XCTAssertThrowsError(try file.tensor("output_norm.weight")) { error in
            XCTAssertEqual(
                error as? GGUFError, .unsupportedTensorType(path: url.path, tensor: "output_norm.weight", type: "I16"))
            XCTAssertTrue("\(error)".contains("readable: F32, F16, Q5_0, Q8_0, Q4_K, Q6_K, I32, I64, BF16"), "\(error)")
        }
    }

    /// `general.alignment` sets the padding of the data section and of every tensor, written and read back.
    func testCustomAlignmentRoundTrips() throws {
        let url = try makeTemporaryFolder(self).appendingPathComponent("aligned.gguf")
        let a = Tensor((0..<6).map(Float.init), shape: [2, 3]), b = Tensor.zeros([1, 64]).converted(to: .q8_0)
        let entries = [
            GGUFWriter.Entry(name: "a", shape: [2, 3], type: try XCTUnwrap(GGMLType(.float32))),
            GGUFWriter.Entry(name: "b", shape: [1, 64], type: try XCTUnwrap(GGMLType(.q8_0)))
        ]
        try GGUFWriter.write(
            to: url, metadata: [("general.alignment", .uint32(256)), ("x", .array(.int32, [.int32(-1), .int32(7)]))],
            entries: entries
        ) { [a, b][$0] }
        let file = try GGUFFile(path: url.path)
        XCTAssertEqual(file.alignment, 256)
        XCTAssertEqual(file.tensorInfos.map { $0.offset % 256 }, [0, 0])
        XCTAssertEqual(file.tensorInfos[1].offset - file.tensorInfos[0].offset, 256)
        XCTAssertEqual(try file.tensor("a").toArray(), a.toArray())
        XCTAssertEqual(try file.tensor("b", copy: true).float().toArray(), [Float](repeating: 0, count: 64))
        XCTAssertEqual(file["x"], .array(.int32, [.int32(-1), .int32(7)]))
        XCTAssertThrowsError(
            try GGUFWriter.write(to: url, metadata: [("general.alignment", .uint32(24))], entries: []) { _ in a })
    }

    private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i..<(i + needle.count)
        }
        return nil
    }
}
