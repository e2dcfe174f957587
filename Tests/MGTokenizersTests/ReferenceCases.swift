import Foundation
import MGTestSupport

/// One case of Tests/Fixtures/tokenizers/tokenizer-<name>.json (produced by transformers / tokenizers /
/// sentencepiece; see Tests/Fixtures/README.md).
struct ReferenceCase {
    let text: String
    let idsWithSpecial: [Int]
    let idsWithoutSpecial: [Int]
    let tokens: [String]
    let decoded: String
    let decodedSkip: String
    let decodedKeep: String
    let sentencePieceIds: [Int]?
    let sentencePieceDecoded: String?
}

struct ReferenceFile {
    let name: String
    let length: Int
    let bosTokenId: Int?
    let eosTokenId: Int?
    let cases: [ReferenceCase]

    static func load(_ name: String) throws -> ReferenceFile {
        let url = Fixtures.url("tokenizers/tokenizer-\(name).json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        guard let root = object as? [String: Any], let rawCases = root["cases"] as? [[String: Any]] else {
            throw NSError(domain: "ReferenceFile", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad \(url.path)"])
        }
        let cases = rawCases.map { c in
            ReferenceCase(
                text: c["text"] as? String ?? "",
                idsWithSpecial: c["ids_add_special_tokens_true"] as? [Int] ?? [],
                idsWithoutSpecial: c["ids_add_special_tokens_false"] as? [Int] ?? [],
                tokens: c["tokens"] as? [String] ?? [],
                decoded: c["decoded"] as? String ?? "",
                decodedSkip: c["decoded_with_special_skip"] as? String ?? "",
                decodedKeep: c["decoded_with_special_keep"] as? String ?? "",
                sentencePieceIds: c["sentencepiece_ids"] as? [Int],
                sentencePieceDecoded: c["sentencepiece_decoded"] as? String)
        }
        return ReferenceFile(
            name: name, length: root["len"] as? Int ?? 0, bosTokenId: root["bos_token_id"] as? Int,
            eosTokenId: root["eos_token_id"] as? Int, cases: cases)
    }
}
