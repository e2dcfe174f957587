import Foundation

/// What transformers builds for a `CLIPTokenizer` folder that has vocab.json and merges.txt but no tokenizer.json:
/// the slow CLIPTokenizer reads the two files and `convert_slow_tokenizer.CLIPConverter` turns it into the fast
/// pipeline (normalizer NFC, `\s+` → " ", lowercase; CLIP split + ByteLevel; BPE with "</w>"; ByteLevel decoder).
struct CLIPConversion {
    var model: BPEModel
    var normalizer: Normalizer
    var preTokenizer: PreTokenizer
    var decoder: Decoder

    /// The slow tokenizer keeps merges.txt lines 1 through 48,894 (`[1 : 49152 - 256 - 2 + 1]`): line 0 is the
    /// "#version" header, and real CLIP has exactly that many merges.
    static let maxMerges = 49152 - 256 - 2

    /// CLIPTokenizer's defaults for tokens the config does not name.
    static let defaultBos = "<|startoftext|>"
    static let defaultEos = "<|endoftext|>"

    /// Whether transformers would load `tokenizerClass` as a CLIP tokenizer.
    static func isCLIP(_ tokenizerClass: String?) -> Bool {
        tokenizerClass == "CLIPTokenizer" || tokenizerClass == "CLIPTokenizerFast"
    }

    init(vocabURL: URL, mergesURL: URL, unknownToken: String) throws {
        let vocab = try Self.vocabulary(vocabURL)
        let merges = try Self.merges(mergesURL)
        model = try BPEModel(
            vocabulary: vocab, merges: merges, unknownToken: unknownToken, fuseUnknown: false, byteFallback: false,
            ignoreMerges: false, continuingSubwordPrefix: "", endOfWordSuffix: "</w>", file: mergesURL.path,
            field: "")
        normalizer = .sequence([.nfc, .replaceRegex(.whitespaceRuns, content: [0x20]), .lowercase])
        preTokenizer = .sequence([
            .split(.clip(specialTokens: false), behavior: .removed, invert: true),
            .byteLevel(addPrefixSpace: false, useRegex: true)
        ])
        decoder = .byteLevel
    }

    /// vocab.json: token → id (`json.load`, so a repeated token keeps its last id).
    private static func vocabulary(_ url: URL) throws -> [(String, Int)] {
        let o = try JSONObject.load(url)
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(o.members.count)
        for member in o.members {
            guard let id = member.value.int, id >= 0, id <= Int(Int32.max) else {
                throw o.invalid(member.key, "expected a token id")
            }
            vocab.append((member.key, id))
        }
        return vocab
    }

    /// merges.txt as the slow tokenizer reads it: universal newlines, `strip()`, `split("\n")`, the header line
    /// skipped, each line `split()` on whitespace into exactly two tokens. A repeated pair keeps its first place,
    /// as the converter lists `bpe_ranks.keys()`.
    private static func merges(_ url: URL) throws -> [(String, String)] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(file: url.path, reason: error.localizedDescription)
        }
        // Newlines are unified on the bytes: String treats "\r\n" as one Character.
        let bytes = Normalizer.replaceAll(Normalizer.replaceAll(Array(data), [0x0D, 0x0A], [0x0A]), [0x0D], [0x0A])
        guard let text = String(validatingUTF8Bytes: bytes) else {
            throw TokenizerError.invalidField(file: url.path, field: "merges", reason: "not valid UTF-8")
        }
        let stripped = PythonText.strip(text)
        let lines = stripped.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { Substring($0) }
        var merges: [(String, String)] = []
        var seen = Set<[UInt8]>()
        for (index, line) in lines.enumerated().dropFirst().prefix(maxMerges) {
            let parts = PythonText.split(line)
            guard parts.count == 2 else {
                throw TokenizerError.invalidField(
                    file: url.path, field: "line \(index + 1)",
                    reason: "\"\(line)\" is not two tokens separated by a space")
            }
            let left = String(parts[0]), right = String(parts[1])
            // Byte keys: two canonically equivalent pairs are different merges.
            guard seen.insert(Array(left.utf8) + [0x20] + Array(right.utf8)).inserted else { continue }
            merges.append((left, right))
        }
        return merges
    }
}
