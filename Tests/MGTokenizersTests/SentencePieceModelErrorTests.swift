import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Protobuf writer for building test models (field key, varint, length-delimited, fixed32).
private struct ProtoWriter {
    var bytes: [UInt8] = []
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func key(_ field: Int, _ wire: UInt64) { varint(UInt64(field) << 3 | wire) }
    mutating func int(_ field: Int, _ value: Int64) { key(field, 0); varint(UInt64(bitPattern: value)) }
    mutating func bytesField(_ field: Int, _ payload: [UInt8]) {
        key(field, 2); varint(UInt64(payload.count)); bytes += payload
    }
    mutating func string(_ field: Int, _ s: String) { bytesField(field, Array(s.utf8)) }
    mutating func float(_ field: Int, _ f: Float) {
        key(field, 5)
        let b = f.bitPattern
        for i in 0..<4 { bytes.append(UInt8((b >> (8 * UInt32(i))) & 0xFF)) }
    }
}

/// A tiny valid BPE model: <unk>, <s>, </s>, ▁, a, b, ▁a, ab, plus anything in `extra`.
private func tinyModel(
    modelType: Int64 = 2, charsmap: [UInt8] = [], extra: (inout ProtoWriter) -> Void = { _ in }
)
    -> [UInt8]
{
    var model = ProtoWriter()
    let pieces: [(String, Float, Int64)] = [
        ("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("▁", -1, 1), ("a", -2, 1),
        ("b", -3, 1), ("▁a", -4, 1), ("ab", -5, 1)
    ]
    for (piece, score, type) in pieces {
        var p = ProtoWriter()
        p.string(1, piece)
        p.float(2, score)
        p.int(3, type)
        model.bytesField(1, p.bytes)
    }
    var trainer = ProtoWriter()
    trainer.int(3, modelType)
    trainer.int(43, -1)  // pad_id: negative int32s are 10-byte varints
    trainer.key(99, 3)  // an unknown group with a nested field, which must be skipped
    trainer.int(1, 5)
    trainer.key(99, 4)
    model.bytesField(2, trainer.bytes)
    var normalizer = ProtoWriter()
    normalizer.string(1, charsmap.isEmpty ? "identity" : "nmt_nfkc")
    if !charsmap.isEmpty { normalizer.bytesField(2, charsmap) }
    normalizer.int(4, 0)
    model.bytesField(3, normalizer.bytes)
    model.int(77, 12345)  // unknown field
    extra(&model)
    return model.bytes
}

final class SentencePieceModelErrorTests: XCTestCase {
    func testHandBuiltModelParsesAndEncodes() throws {
        let model = try SentencePieceModel(serializedBytes: tinyModel())
        XCTAssertEqual(model.pieces.count, 8)
        XCTAssertEqual(model.trainerSpec.padId, -1)
        XCTAssertEqual(model.normalizerSpec.name, "identity")
        XCTAssertFalse(model.normalizerSpec.removeExtraWhitespaces)
        XCTAssertTrue(model.normalizerSpec.addDummyPrefix)  // proto2 default
        let processor = try SentencePieceProcessor(model: model)
        // "▁ab▁a": "▁a" (score -4) outranks "ab" (-5), so the first word becomes "▁a" + "b".
        XCTAssertEqual(processor.encodeAsPieces("ab a"), ["▁a", "b", "▁a"])
        XCTAssertEqual(processor.encode("c"), [3, 0])  // no byte fallback: unknown "c" → <unk>
        XCTAssertEqual(processor.encode("cc"), [3, 0])  // consecutive unknowns collapse
        XCTAssertEqual(try processor.decode([3, 0, 4]), " \u{2047} a")
    }

    func testTruncatedFileNamesTheFile() throws {
        let bytes = try [UInt8](Data(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model")))
        for length in [1, 2, 7, 100, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(
                try SentencePieceModel(serializedBytes: Array(bytes[..<length]), fileName: "cut.model")
            ) {
                error in
                guard let e = error as? TokenizerError else { return XCTFail("\(error)") }
                XCTAssertTrue(e.description.hasPrefix("cut.model: "), e.description)
            }
        }
    }

    /// Random byte corruptions and truncations must give a model or a thrown error — never a crash.
    func testRandomCorruptionsNeverCrash() throws {
        let original = try [UInt8](Data(contentsOf: Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model")))
        var rng = SplitMix64(seed: 7)
        var parsed = 0, rejected = 0
        for iteration in 0..<1000 {
            var bytes = original
            switch iteration % 3 {
            case 0:
                for _ in 0..<(1 + Int(rng.next() % 8)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            case 1:
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes[at] ^= UInt8(1 << (rng.next() % 8))
                bytes = Array(bytes[..<(at + Int(rng.next() % UInt64(bytes.count - at)))])
            default:
                let at = Int(rng.next() % UInt64(bytes.count))
                bytes.insert(
                    contentsOf: (0..<(1 + rng.next() % 6)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                    at: at)
            }
            do {
                let model = try SentencePieceModel(serializedBytes: bytes, fileName: "fuzz.model")
                let processor = try SentencePieceProcessor(model: model, fileName: "fuzz.model")
                let ids = processor.encode("Hello wörld 東京 <s> 123")
                _ = try processor.decode(ids)
                parsed += 1
            } catch let error as TokenizerError {
                XCTAssertTrue(error.description.contains("fuzz.model"), error.description)
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 0)
        XCTAssertEqual(parsed + rejected, 1000)
    }

    func testMalformedWireData() {
        func reason(_ bytes: [UInt8]) -> String {
            do {
                _ = try SentencePieceModel(serializedBytes: bytes, fileName: "bad.model")
                return "parsed"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(reason([0x0A, 0x80]).contains("truncated varint"))
        XCTAssertTrue(reason([0x0A, 0x05, 0x01]).contains("runs past the end"))
        XCTAssertTrue(reason([0x0F]).contains("invalid wire type 7"))
        XCTAssertTrue(reason([0x00]).contains("invalid field number 0"))
        XCTAssertTrue(reason([0x0B, 0x10, 0x01]).contains("unterminated group"))
        XCTAssertTrue(reason(Array(repeating: 0xFF, count: 11)).contains("varint"))
        XCTAssertTrue(reason([]).contains("no pieces"))
    }

    func testInvalidModels() throws {
        // Unknown piece type, missing <unk>, duplicated piece, byte pieces without byte_fallback.
        var badType = ProtoWriter()
        var p = ProtoWriter(); p.string(1, "x"); p.int(3, 9); badType.bytesField(1, p.bytes)
        XCTAssertThrowsError(try SentencePieceModel(serializedBytes: badType.bytes)) { error in
            XCTAssertTrue("\(error)".contains("unknown piece type 9"), "\(error)")
        }
        var noUnk = ProtoWriter()
        var q = ProtoWriter(); q.string(1, "x"); noUnk.bytesField(1, q.bytes)
        XCTAssertThrowsError(try SentencePieceModel(serializedBytes: noUnk.bytes)) { error in
            XCTAssertTrue("\(error)".contains("unk is not defined"), "\(error)")
        }
        let duplicated = tinyModel { model in
            var r = ProtoWriter(); r.string(1, "ab"); model.bytesField(1, r.bytes)
        }
        XCTAssertThrowsError(try SentencePieceModel(serializedBytes: duplicated)) { error in
            XCTAssertTrue("\(error)".contains("already defined"), "\(error)")
        }
        let bytePiece = tinyModel { model in
            var r = ProtoWriter(); r.string(1, "<0x41>"); r.int(3, 6); model.bytesField(1, r.bytes)
        }
        XCTAssertThrowsError(try SentencePieceModel(serializedBytes: bytePiece)) { error in
            XCTAssertTrue("\(error)".contains("byte_fallback is false"), "\(error)")
        }
    }

    func testUnsupportedModelsAreRejectedClearly() throws {
        let unigram = try SentencePieceModel(serializedBytes: tinyModel(modelType: 1), fileName: "uni.model")
        XCTAssertThrowsError(try SentencePieceProcessor(model: unigram, fileName: "uni.model")) { error in
            XCTAssertEqual(
                "\(error)", "uni.model: unsupported \"trainer_spec.model_type\" = unigram (only BPE is implemented)")
        }
        let nfkc = try SentencePieceModel(serializedBytes: tinyModel(charsmap: [1, 2, 3, 4, 5]), fileName: "nfkc.model")
        XCTAssertThrowsError(try SentencePieceProcessor(model: nfkc, fileName: "nfkc.model")) { error in
            XCTAssertTrue(
                "\(error)".hasPrefix("nfkc.model: unsupported \"normalizer_spec.precompiled_charsmap\""),
                "\(error)")
        }
    }
}
