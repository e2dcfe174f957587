// MGTrain — a small Llama-layout tokenizer for the embedded default, written as the `tokenizer.json` that HF's
// LlamaTokenizerFast uses (Prepend/Replace normalizer, byte-fallback BPE, SentencePiece-style decoder), so the tiny
// LLM folder loads through the same code path as a real Vicuna folder.
import Foundation

/// A small SentencePiece-style tokenizer built for the synthetic dataset's words.
public enum TinyTokenizerBuilder {
    /// `<unk>`, `<s>`, `</s>` at ids 0, 1, 2 as in Llama-2/Vicuna.
    static let specials = ["<unk>", "<s>", "</s>"]

    /// The vocabulary (token → id) and merges for `phrases`.
    ///
    /// Ids: the three specials, the 256 byte-fallback tokens `<0x00>`…`<0xFF>`, `▁` and every printable ASCII
    /// character, then for each word of the phrases (split on spaces and newlines) every prefix of `▁word` and of
    /// `word`, built by merges that extend a prefix by one character. All `▁`-chain merges rank before the plain
    /// ones, so a word after a space always becomes its one `▁word` token; other text still encodes (by
    /// characters, or bytes), just less compactly. Each of `units` (multi-word strings that are frequent as a whole,
    /// like the option lines `A. red`) then becomes one token through merges of its word tokens, ranked last — what
    /// BPE trained on this corpus would learn, since those lines recur in almost every sample.
    public static func vocabulary(
        phrases: [String], units: [String] = []
    ) -> (vocab: [String: Int], merges: [(String, String)]) {
        var vocab: [String: Int] = [:]
        var order: [String] = []
        func add(_ token: String) {
            guard vocab[token] == nil else { return }
            vocab[token] = order.count
            order.append(token)
        }
        specials.forEach(add)
        for b in 0..<256 { add(String(format: "<0x%02X>", b)) }
        add("▁")
        for c in 33...126 { add(String(UnicodeScalar(UInt8(c)))) }

        var words: [String] = []
        var seen = Set<String>()
        for phrase in phrases {
            for word in phrase.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            where seen.insert(word).inserted {
                words.append(word)
            }
        }
        var prefixed: [(String, String)] = [], plain: [(String, String)] = []
        var mergeSeen = Set<String>()
        func chain(_ s: String, into list: inout [(String, String)]) {
            let chars = s.map(String.init)
            chars.forEach(add)
            guard chars.count > 1 else { return }
            var prefix = chars[0]
            for c in chars.dropFirst() {
                if mergeSeen.insert(prefix + " " + c).inserted { list.append((prefix, c)) }
                prefix += c
                add(prefix)
            }
        }
        for word in words { chain("▁" + word, into: &prefixed) }
        for word in words { chain(word, into: &plain) }
        // Shorter merges first inside each group, so ranks follow the order the chains are built in.
        let byLength: ((String, String), (String, String)) -> Bool = {
            ($0.0.count + $0.1.count) < ($1.0.count + $1.1.count)
        }
        var joined: [(String, String)] = []
        for unit in units {
            let words = unit.split(separator: " ").map(String.init)
            guard var token = words.first else { continue }
            chain(token, into: &plain)
            for word in words.dropFirst() {
                chain("▁" + word, into: &prefixed)
                if mergeSeen.insert(token + " ▁" + word).inserted { joined.append((token, "▁" + word)) }
                token += "▁" + word
                add(token)
            }
        }
        return (vocab, prefixed.sorted(by: byLength) + plain.sorted(by: byLength) + joined)
    }

    /// Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `folder`; returns the
    /// number of token ids.
    @discardableResult
    public static func write(to folder: URL, phrases: [String], units: [String] = []) throws -> Int {
        let (vocab, merges) = vocabulary(phrases: phrases, units: units)
        func special(_ content: String, id: Int) -> [String: Any] {
            [
                "id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": true
            ]
        }
        let tokenizer: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": specials.enumerated().map { special($1, id: $0) },
            "normalizer": [
                "type": "Sequence",
                "normalizers": [
                    ["type": "Prepend", "prepend": "▁"],
                    ["type": "Replace", "pattern": ["String": " "], "content": "▁"]
                ]
            ],
            "pre_tokenizer": NSNull(),
            "post_processor": [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                "pair": [
                    ["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                    ["SpecialToken": ["id": "<s>", "type_id": 1]], ["Sequence": ["id": "B", "type_id": 1]]
                ],
                "special_tokens": ["<s>": ["id": "<s>", "ids": [1], "tokens": ["<s>"]]]
            ] as [String: Any],
            "decoder": [
                "type": "Sequence",
                "decoders": [
                    ["type": "Replace", "pattern": ["String": "▁"], "content": " "],
                    ["type": "ByteFallback"],
                    ["type": "Fuse"],
                    ["type": "Strip", "content": " ", "start": 1, "stop": 0]
                ]
            ],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": "<unk>", "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                "vocab": vocab, "merges": merges.map { [$0.0, $0.1] }
            ] as [String: Any]
        ]
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: tokenizer, options: [.sortedKeys])
            .write(to: folder.appendingPathComponent("tokenizer.json"), options: .atomic)
        func token(_ content: String) -> [String: Any] {
            ["content": content, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false]
        }
        let config: [String: Any] = [
            "add_bos_token": true, "add_eos_token": false, "bos_token": token("<s>"), "eos_token": token("</s>"),
            "unk_token": token("<unk>"), "pad_token": NSNull(), "clean_up_tokenization_spaces": false,
            "legacy": true, "model_max_length": 512, "padding_side": "right", "tokenizer_class": "LlamaTokenizer"
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])
            .write(to: folder.appendingPathComponent("tokenizer_config.json"), options: .atomic)
        let map: [String: Any] = [
            "bos_token": token("<s>"), "eos_token": token("</s>"), "unk_token": token("<unk>"),
            "pad_token": "<unk>"
        ]
        try JSONSerialization.data(withJSONObject: map, options: [.sortedKeys, .prettyPrinted])
            .write(to: folder.appendingPathComponent("special_tokens_map.json"), options: .atomic)
        return vocab.count
    }
}
