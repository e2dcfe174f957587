import XCTest
import Foundation
import MGTestSupport
@testable import MGTokenizers

/// Canonically equivalent text is different text for a tokenizer. LLaMA-2's vocabulary (Vicuna-1.5's
/// tokenizer.model) holds six pairs of Greek pieces such as U+03AF "ί" (30207) and U+1F77 "ί" (30873) that Swift's
/// `String` equality and hashing take for one string. `canonical-pairs` is vicuna-tiny's model plus such pairs
/// (scripts/fixtures/tokenizers/make_canonical_pairs.py); the expected ids come from sentencepiece and from
/// transformers' AutoTokenizer. Text is compared as bytes throughout.
final class CanonicalEquivalenceTests: XCTestCase {
    private let directory = Fixtures.url("tokenizers/canonical-pairs")

    private struct Case {
        var text: String
        var sentencePieceIds: [Int], sentencePieceDecoded: String
        var hfIds: [Int], hfDecoded: String
    }

    private func expected() throws -> (
        pairs: [(a: String, b: String, aId: Int, bId: Int)], cases: [Case], pieceCount: Int
    ) {
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: directory.appendingPathComponent("expected.json")))
        let root = try XCTUnwrap(object as? [String: Any])
        let pairs = try XCTUnwrap(root["pairs"] as? [[String: Any]]).map { p in
            (
                a: try XCTUnwrap(p["a"] as? String), b: try XCTUnwrap(p["b"] as? String),
                aId: try XCTUnwrap(p["a_id"] as? Int), bId: try XCTUnwrap(p["b_id"] as? Int)
            )
        }
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]]).map { c in
            Case(
                text: try XCTUnwrap(c["text"] as? String),
                sentencePieceIds: try XCTUnwrap(c["sentencepiece_ids"] as? [Int]),
                sentencePieceDecoded: try XCTUnwrap(c["sentencepiece_decoded"] as? String),
                hfIds: try XCTUnwrap(c["hf_ids"] as? [Int]), hfDecoded: try XCTUnwrap(c["hf_decoded"] as? String))
        }
        return (pairs, cases, try XCTUnwrap(root["piece_count"] as? Int))
    }

    func testFixtureHoldsCanonicallyEquivalentPieces() throws {
        let (pairs, _, pieceCount) = try expected()
        XCTAssertEqual(pairs.count, 6)
        for pair in pairs {
            // The premise of the fixture: Swift equates these strings, their bytes differ.
            XCTAssertEqual(pair.a, pair.b)
            XCTAssertNotEqual(Array(pair.a.utf8), Array(pair.b.utf8))
        }
        let model = try SentencePieceModel(contentsOf: directory.appendingPathComponent("tokenizer.model"))
        XCTAssertEqual(model.pieces.count, pieceCount)
        for pair in pairs {
            XCTAssertEqual(Array(model.pieces[pair.aId].piece.utf8), Array(pair.a.utf8))
            XCTAssertEqual(Array(model.pieces[pair.bId].piece.utf8), Array(pair.b.utf8))
            XCTAssertNotEqual(model.pieces[pair.aId], model.pieces[pair.bId], "pieces compare as bytes")
        }
    }

    func testSentencePieceProcessorMatchesSentencePiece() throws {
        let (pairs, cases, _) = try expected()
        let processor = try SentencePieceProcessor(contentsOf: directory.appendingPathComponent("tokenizer.model"))
        for pair in pairs {
            XCTAssertEqual(processor.pieceToId(pair.a), pair.aId)
            XCTAssertEqual(processor.pieceToId(pair.b), pair.bId)
            XCTAssertEqual(processor.idToPiece(pair.bId).map { Array($0.utf8) }, Array(pair.b.utf8))
        }
        XCTAssertGreaterThan(cases.count, 60)
        for c in cases {
            XCTAssertEqual(processor.encode(c.text), c.sentencePieceIds, "encode \(c.text.unicodeScalars.map(\.value))")
            XCTAssertEqual(
                Array(try processor.decode(c.sentencePieceIds).utf8), Array(c.sentencePieceDecoded.utf8),
                "decode \(c.sentencePieceIds)")
        }
    }

    /// Vicuna ships tokenizer.model and no tokenizer.json: `Tokenizer.load` converts it as transformers does.
    func testConvertedTokenizerMatchesTransformers() throws {
        let (pairs, cases, pieceCount) = try expected()
        let tokenizer = try Tokenizer.load(directory: directory)
        XCTAssertEqual(tokenizer.vocabSize, pieceCount)
        for pair in pairs {
            XCTAssertEqual(tokenizer.id(for: pair.a), pair.aId)
            XCTAssertEqual(tokenizer.id(for: pair.b), pair.bId)
            XCTAssertEqual(tokenizer.token(for: pair.bId).map { Array($0.utf8) }, Array(pair.b.utf8))
        }
        for c in cases {
            XCTAssertEqual(
                tokenizer.encode(c.text, addSpecialTokens: false), c.hfIds,
                "encode \(c.text.unicodeScalars.map(\.value))")
            XCTAssertEqual(Array(tokenizer.decode(c.hfIds).utf8), Array(c.hfDecoded.utf8), "decode \(c.hfIds)")
        }
    }

    /// encode(decode([id])) for every id of every fixture vocabulary, against the peer (sentencepiece for a
    /// tokenizer.model, transformers for a tokenizer folder): ours round-trips exactly where theirs does, and
    /// gives their ids where theirs does not.
    func testRoundTripSweepOverEveryFixtureVocabulary() throws {
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Fixtures.url("tokenizers/round-trip-sweep.json")))
        let sweep = try XCTUnwrap(object as? [String: [[Int]]])
        let expectedVocabularies = [
            "sentencepiece:vicuna-tiny", "sentencepiece:phi3-tiny", "sentencepiece:canonical-pairs",
            "hf:vicuna-tiny", "hf:llama3-tiny", "hf:phi3-tiny", "hf:canonical-pairs"
        ]
        XCTAssertEqual(Set(sweep.keys), Set(expectedVocabularies))
        for key in expectedVocabularies {
            let peer = try XCTUnwrap(sweep[key])
            let parts = key.split(separator: ":")
            let folder = Fixtures.url("tokenizers/\(parts[1])")
            let roundTrip: (Int) throws -> [Int]
            if parts[0] == "sentencepiece" {
                let processor = try SentencePieceProcessor(contentsOf: folder.appendingPathComponent("tokenizer.model"))
                XCTAssertEqual(peer.count, processor.pieceCount, key)
                roundTrip = { id in processor.encode(try processor.decode([id])) }
            } else {
                let tokenizer = try Tokenizer.load(directory: folder)
                XCTAssertEqual(peer.count, tokenizer.vocabSize, key)
                roundTrip = { id in tokenizer.encode(tokenizer.decode([id]), addSpecialTokens: false) }
            }
            var mismatches: [Int] = []
            var peerRoundTrips = 0
            for (id, expectedIds) in peer.enumerated() {
                if expectedIds == [id] { peerRoundTrips += 1 }
                if try roundTrip(id) != expectedIds { mismatches.append(id) }
            }
            XCTAssertEqual(mismatches, [], "\(key): ids whose encode(decode(id)) differs from the peer's")
            // The sweep is not vacuous: most pieces round-trip.
            XCTAssertGreaterThan(peerRoundTrips, peer.count / 5, key)
        }
    }

    /// Older tokenizer.json files write merges as "left right". HF splits at the byte 0x20; a right part that
    /// starts with a combining mark must not be glued to the space (" " + U+0301 is one Swift Character).
    func testLegacyMergeStringsSplitAtTheSpaceByte() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("merges-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = """
            {"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null,
             "decoder": null, "model": {"type": "BPE", "unk_token": null, "fuse_unk": false, "byte_fallback": false,
             "vocab": {"a": 0, "\\u0301": 1, "a\\u0301": 2, "e\\u0301": 3, "e": 4, "\\u00e9": 5},
             "merges": ["a \\u0301", "e \\u0301"]}}
            """
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        let tokenizer = try Tokenizer.load(directory: folder)
        XCTAssertEqual(tokenizer.encode("a\u{301}", addSpecialTokens: false), [2])
        XCTAssertEqual(tokenizer.encode("e\u{301}\u{E9}", addSpecialTokens: false), [3, 5])
        XCTAssertEqual(tokenizer.id(for: "\u{E9}"), 5)
        XCTAssertEqual(tokenizer.id(for: "e\u{301}"), 3)
    }
}
