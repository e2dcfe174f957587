import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

final class SentencePieceTests: XCTestCase {
    private func vicunaModelURL() -> URL { Fixtures.url("tokenizers/vicuna-tiny/tokenizer.model") }

    func testModelProtoFields() throws {
        let model = try SentencePieceModel(contentsOf: vicunaModelURL())
        XCTAssertEqual(model.pieces.count, 700)
        XCTAssertEqual(model.trainerSpec.modelType, .bpe)
        XCTAssertTrue(model.trainerSpec.byteFallback)
        XCTAssertTrue(model.trainerSpec.splitDigits)
        XCTAssertEqual(model.trainerSpec.unkId, 0)
        XCTAssertEqual(model.trainerSpec.bosId, 1)
        XCTAssertEqual(model.trainerSpec.eosId, 2)
        XCTAssertEqual(model.trainerSpec.padId, -1)
        XCTAssertTrue(model.normalizerSpec.addDummyPrefix)
        XCTAssertFalse(model.normalizerSpec.removeExtraWhitespaces)
        XCTAssertTrue(model.normalizerSpec.precompiledCharsmap.isEmpty)
        XCTAssertEqual(model.pieces[0], .init(piece: "<unk>", score: 0, type: .unknown))
        XCTAssertEqual(model.pieces[1].type, .control)
        XCTAssertEqual(model.pieces[3], .init(piece: "<0x00>", score: 0, type: .byte))
        XCTAssertEqual(model.pieces[258].piece, "<0xFF>")
        XCTAssertEqual(model.pieces[260], .init(piece: "he", score: -1, type: .normal))
    }

    func testEncodeDecodeMatchesSentencePieceOnEveryCase() throws {
        try checkSentencePieceFields(model: vicunaModelURL(), reference: "vicuna-tiny")
    }

    /// Phi-3 ships Llama-2's tokenizer.model next to its tokenizer.json; its reference file has sentencepiece fields too.
    func testPhi3TokenizerModelMatchesSentencePiece() throws {
        try checkSentencePieceFields(
            model: Fixtures.url("tokenizers/phi3-tiny/tokenizer.model"), reference: "phi3-tiny")
    }

    private func checkSentencePieceFields(model: URL, reference name: String) throws {
        let processor = try SentencePieceProcessor(contentsOf: model)
        let reference = try ReferenceFile.load(name)
        XCTAssertGreaterThan(reference.cases.count, 50)
        for c in reference.cases {
            guard let expectedIds = c.sentencePieceIds, let expectedText = c.sentencePieceDecoded else {
                XCTFail("case \(c.text.debugDescription) lacks sentencepiece fields"); continue
            }
            XCTAssertEqual(processor.encode(c.text), expectedIds, "encode \(c.text.debugDescription)")
            XCTAssertEqual(
                Array(try processor.decode(expectedIds).utf8), Array(expectedText.utf8),
                "decode \(c.text.debugDescription)")
        }
    }

    func testPiecesAndSpecialIds() throws {
        let processor = try SentencePieceProcessor(contentsOf: vicunaModelURL())
        XCTAssertEqual(processor.encodeAsPieces("Hello world"), ["▁", "Hello", "▁world"])
        XCTAssertEqual(processor.encodeAsPieces("東"), ["▁", "<0xE6>", "<0x9D>", "<0xB1>"])
        XCTAssertEqual(processor.normalize(" a  b"), "▁▁a▁▁b")
        XCTAssertEqual(processor.unkId, 0)
        XCTAssertEqual(processor.bosId, 1)
        XCTAssertEqual(processor.eosId, 2)
        XCTAssertEqual(processor.padId, -1)
        XCTAssertEqual(processor.pieceToId("▁t"), 259)
        XCTAssertEqual(processor.pieceToId("no such piece"), 0)
        XCTAssertEqual(processor.idToPiece(2), "</s>")
        XCTAssertNil(processor.idToPiece(700))
    }

    func testDecodeSpecialCases() throws {
        let processor = try SentencePieceProcessor(contentsOf: vicunaModelURL())
        // Control pieces vanish, unknown prints " ⁇ ", a lone continuation byte is U+FFFD, bytes of one character
        // reassemble.
        XCTAssertEqual(try processor.decode([1, 598, 466, 479, 2]), "Hello world")
        XCTAssertEqual(try processor.decode([0]), " \u{2047} ")
        XCTAssertEqual(try processor.decode([0x80 + 3, 0xE6 + 3, 0x9D + 3, 0xB1 + 3]), "\u{FFFD}東")
        XCTAssertThrowsError(try processor.decode([700])) { error in
            XCTAssertEqual(error as? TokenizerError, .idOutOfRange(id: 700, vocabularySize: 700))
        }
    }

    /// Small hand-made models run through sentencepiece 0.2.3: an unused piece that must be resegmented, user-defined
    /// pieces (one containing a space), unknown characters without byte fallback, remove_extra_whitespaces,
    /// treat_whitespace_as_suffix and no dummy prefix.
    func testModelVariantsMatchSentencePiece() throws {
        let directory = Fixtures.url("tokenizers/sentencepiece-variants")
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let root = try XCTUnwrap(object as? [String: Any])
        XCTAssertEqual(root.count, 4)
        for (name, value) in root {
            let expected = try XCTUnwrap(value as? [String: Any])
            let processor = try SentencePieceProcessor(contentsOf: directory.appendingPathComponent("\(name).model"))
            for c in try XCTUnwrap(expected["cases"] as? [[String: Any]]) {
                let text = try XCTUnwrap(c["text"] as? String)
                XCTAssertEqual(
                    processor.encode(text), try XCTUnwrap(c["ids"] as? [Int]), "\(name) \(text.debugDescription)")
                XCTAssertEqual(
                    processor.encodeAsPieces(text).map { Array($0.unicodeScalars) },
                    try XCTUnwrap(c["pieces"] as? [String]).map { Array($0.unicodeScalars) },
                    "\(name) pieces \(text.debugDescription)")
            }
            for d in try XCTUnwrap(expected["decodes"] as? [[String: Any]]) {
                let ids = try XCTUnwrap(d["ids"] as? [Int])
                XCTAssertEqual(
                    Array(try processor.decode(ids).unicodeScalars),
                    Array(try XCTUnwrap(d["text"] as? String).unicodeScalars), "\(name) decode \(ids)")
            }
        }
    }
}
