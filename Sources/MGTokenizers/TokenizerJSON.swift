import Foundation
import MGJSON

/// The pieces of an HF `tokenizer.json`, parsed and checked. Anything this package does not implement is reported
/// as `TokenizerError.unsupported` naming the field, rather than tokenizing differently.
struct TokenizerJSON {
    var addedTokens: [AddedToken]
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var model: BPEModel
    var decoder: Decoder?
    var postProcessor: PostProcessor

    init(url: URL) throws {
        let root = try JSONObject.load(url)
        addedTokens = try (root.value("added_tokens") == nil ? [] : root.objects("added_tokens")).map(Self.addedToken)
        normalizer = try root.optionalObject("normalizer").map(Self.normalizer)
        preTokenizer = try root.optionalObject("pre_tokenizer").map(Self.preTokenizer)
        if let pre = preTokenizer { try Self.checkByteLevelIsLast(pre, file: url.path) }
        let usesByteLevel = preTokenizer.map(Self.containsByteLevel) ?? false
        model = try Self.model(root.object("model"), byteLevel: usesByteLevel)
        decoder = try root.optionalObject("decoder").map(Self.decoder)
        postProcessor = try root.optionalObject("post_processor").map(Self.postProcessor) ?? .none
    }

    // MARK: - Added tokens

    static func addedToken(_ o: JSONObject) throws -> AddedToken {
        AddedToken(
            content: try o.string("content"), id: try o.tokenId("id"),
            singleWord: try o.bool("single_word", default: false), lstrip: try o.bool("lstrip", default: false),
            rstrip: try o.bool("rstrip", default: false), normalized: try o.bool("normalized", default: true),
            special: try o.bool("special", default: false))
    }

    // MARK: - Normalizers

    static func normalizer(_ o: JSONObject) throws -> Normalizer {
        let type = try o.string("type")
        switch type {
        case "Sequence": return .sequence(try o.objects("normalizers").map(normalizer))
        case "Prepend": return .prepend(Array(try o.string("prepend").utf8))
        case "Replace":
            let pattern = try o.object("pattern")
            let content = Array(try o.string("content").utf8)
            if let literal = try pattern.optionalString("String") {
                return .replace(pattern: Array(literal.utf8), content: content)
            }
            if let regex = try pattern.optionalString("Regex") {
                guard let compiled = RegexSplitter.regex(regex) else {
                    throw TokenizerError.unsupported(file: o.file, field: pattern.field("Regex"), value: regex)
                }
                return .replaceRegex(compiled, content: content)
            }
            throw TokenizerError.unsupported(
                file: o.file, field: pattern.path,
                value: "pattern \(pattern.members.map { "\"\($0.key)\"" }.joined(separator: ", ")) "
                    + "(only String and Regex patterns are implemented)")
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Strip":
            return .strip(
                left: try o.bool("strip_left", default: true),
                right: try o.bool("strip_right", default: true))
        default:
            throw TokenizerError.unsupported(file: o.file, field: o.field("type"), value: "normalizer \"\(type)\"")
        }
    }

    // MARK: - Pre-tokenizers

    static func preTokenizer(_ o: JSONObject) throws -> PreTokenizer {
        let type = try o.string("type")
        switch type {
        case "Sequence":
            return .sequence(try o.objects("pretokenizers").map(preTokenizer))
        case "Split":
            let pattern = try o.object("pattern")
            let splitter: RegexSplitter
            if let literal = try pattern.optionalString("String") {
                splitter = .literal(Array(literal.utf8))
            } else if let regex = try pattern.optionalString("Regex") {
                guard let compiled = RegexSplitter.regex(regex) else {
                    throw TokenizerError.unsupported(file: o.file, field: pattern.field("Regex"), value: regex)
                }
                splitter = compiled
            } else {
                throw TokenizerError.missingField(file: o.file, field: pattern.field("Regex"))
            }
            let behaviorName = try o.string("behavior")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError.unsupported(file: o.file, field: o.field("behavior"), value: behaviorName)
            }
            return .split(splitter, behavior: behavior, invert: try o.bool("invert", default: false))
        case "ByteLevel":
            return .byteLevel(
                addPrefixSpace: try o.bool("add_prefix_space", default: true),
                useRegex: try o.bool("use_regex", default: true))
        case "Metaspace":
            return .metaspace(
                replacement: Array(try metaspaceReplacement(o).utf8),
                prependScheme: try prependScheme(o), split: try o.bool("split", default: true))
        case "Digits":
            return .digits(individual: try o.bool("individual_digits", default: false))
        default:
            throw TokenizerError.unsupported(file: o.file, field: o.field("type"), value: "pre-tokenizer \"\(type)\"")
        }
    }

    private static func metaspaceReplacement(_ o: JSONObject) throws -> String {
        let replacement = try o.string("replacement")
        guard replacement.unicodeScalars.count == 1 else {
            throw o.invalid("replacement", "expected a single character")
        }
        return replacement
    }

    /// HF: `prepend_scheme` (default "always"); the legacy `add_prefix_space: false` means "never".
    private static func prependScheme(_ o: JSONObject) throws -> PrependScheme {
        var scheme = PrependScheme.always
        if let name = try o.optionalString("prepend_scheme") {
            guard let parsed = PrependScheme(rawValue: name) else {
                throw TokenizerError.unsupported(file: o.file, field: o.field("prepend_scheme"), value: name)
            }
            scheme = parsed
        }
        if try o.optionalBool("add_prefix_space") == false { scheme = .never }
        return scheme
    }

    private static func containsByteLevel(_ p: PreTokenizer) -> Bool {
        switch p {
        case .byteLevel: return true
        case .sequence(let steps): return steps.contains(where: containsByteLevel)
        default: return false
        }
    }

    /// Byte-level text is tracked with a flag rather than rewritten into bytes_to_unicode characters, which is only
    /// equivalent when nothing looks at the text after the ByteLevel step.
    private static func checkByteLevelIsLast(_ p: PreTokenizer, file: String) throws {
        guard case .sequence(let steps) = p else { return }
        for (index, step) in steps.enumerated() where containsByteLevel(step) && index != steps.count - 1 {
            throw TokenizerError.unsupported(
                file: file, field: "pre_tokenizer.pretokenizers[\(index)]",
                value: "ByteLevel followed by other pre-tokenizers")
        }
        for step in steps { try checkByteLevelIsLast(step, file: file) }
    }

    // MARK: - Model

    static func model(_ o: JSONObject, byteLevel: Bool) throws -> BPEModel {
        let type = try o.optionalString("type") ?? (o.has("merges") ? "BPE" : "")
        guard type == "BPE" else {
            if type.isEmpty { throw TokenizerError.missingField(file: o.file, field: o.field("type")) }
            throw TokenizerError.unsupported(file: o.file, field: o.field("type"), value: "model \"\(type)\"")
        }
        if let dropout = try o.optionalDouble("dropout"), dropout > 0 {
            throw TokenizerError.unsupported(file: o.file, field: o.field("dropout"), value: "\(dropout) (BPE dropout)")
        }
        guard let vocabMembers = try o.require("vocab").members else {
            throw o.invalid("vocab", "expected an object of token → id")
        }
        var vocab: [(String, Int)] = []
        vocab.reserveCapacity(vocabMembers.count)
        for member in vocabMembers {
            let token = member.key, value = member.value
            guard let id = value.int else { throw o.invalid("vocab", "id of \"\(token)\" is not an integer") }
            vocab.append((token, id))
        }
        var merges: [(String, String)] = []
        let rawMerges = try o.array("merges")
        merges.reserveCapacity(rawMerges.count)
        for (index, entry) in rawMerges.enumerated() {
            if let pair = entry.array, pair.count == 2, let left = pair[0].string, let right = pair[1].string {
                merges.append((left, right))
            } else if let line = entry.string {
                // Older files: "left right", split at the byte 0x20 as HF does (`line.split(' ')`). Splitting the
                // String would cut at Characters, and " " followed by a combining mark is one Character.
                let parts = line.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw o.invalid("merges", "entry \(index) is not \"left right\"") }
                merges.append((String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self)))
            } else {
                throw o.invalid("merges", "entry \(index) is not a pair of strings")
            }
        }
        return try BPEModel(
            vocabulary: vocab, merges: merges, unknownToken: try o.optionalString("unk_token"),
            fuseUnknown: try o.bool("fuse_unk", default: false),
            byteFallback: try o.bool("byte_fallback", default: false),
            ignoreMerges: try o.bool("ignore_merges", default: false),
            continuingSubwordPrefix: try o.optionalString("continuing_subword_prefix") ?? "",
            endOfWordSuffix: try o.optionalString("end_of_word_suffix") ?? "", file: o.file, field: o.path)
    }

    // MARK: - Decoders

    static func decoder(_ o: JSONObject) throws -> Decoder {
        let type = try o.string("type")
        switch type {
        case "Sequence": return .sequence(try o.objects("decoders").map(decoder))
        case "Replace":
            let pattern = try o.object("pattern")
            guard let literal = try pattern.optionalString("String") else {
                throw TokenizerError.unsupported(
                    file: o.file, field: pattern.path,
                    value: "Regex pattern (only String patterns are implemented)")
            }
            return .replace(pattern: literal, content: try o.string("content"))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let content = try o.string("content")
            guard let scalar = content.unicodeScalars.first, content.unicodeScalars.count == 1 else {
                throw o.invalid("content", "expected a single character")
            }
            return .strip(content: scalar, start: try o.optionalInt("start") ?? 0, stop: try o.optionalInt("stop") ?? 0)
        case "ByteLevel": return .byteLevel
        case "BPEDecoder": return .bpe(suffix: try o.optionalString("suffix") ?? "</w>")
        case "Metaspace":
            let replacement = try metaspaceReplacement(o)
            return .metaspace(
                replacement: replacement.unicodeScalars.first ?? "\u{2581}",
                prependScheme: try prependScheme(o))
        default:
            throw TokenizerError.unsupported(file: o.file, field: o.field("type"), value: "decoder \"\(type)\"")
        }
    }

    // MARK: - Post-processors

    static func postProcessor(_ o: JSONObject) throws -> PostProcessor {
        let type = try o.string("type")
        switch type {
        case "Sequence":
            var combined = PostProcessor.none
            for step in try o.objects("processors") {
                let p = try postProcessor(step)
                combined.prefix += p.prefix
                combined.suffix = p.suffix + combined.suffix
            }
            return combined
        case "ByteLevel":
            return .none  // offsets only
        case "TemplateProcessing":
            return try template(o)
        case "BertProcessing", "RobertaProcessing":
            func token(_ key: String) throws -> Int32 {
                guard let pair = try o.require(key).array, pair.count == 2, let raw = pair[1].int,
                    let id = Int32(exactly: raw), id >= 0
                else {
                    throw o.invalid(key, "expected [token, id]")
                }
                return id
            }
            return PostProcessor(prefix: [try token("cls")], suffix: [try token("sep")])
        default:
            throw TokenizerError.unsupported(file: o.file, field: o.field("type"), value: "post-processor \"\(type)\"")
        }
    }

    /// The `single` template: special tokens before and after the one `$A` sequence.
    private static func template(_ o: JSONObject) throws -> PostProcessor {
        let specials = try o.optionalObject("special_tokens")
        var result = PostProcessor.none
        var seenSequence = false
        for (index, item) in try o.objects("single").enumerated() {
            if let special = try item.optionalObject("SpecialToken") {
                let name = try special.string("id")
                guard let entry = try specials?.optionalObject(name) else {
                    throw o.invalid("single[\(index)]", "special token \"\(name)\" is not in special_tokens")
                }
                let values = try entry.array("ids")
                let ids = values.compactMap { $0.int.flatMap { Int32(exactly: $0) } }.filter { $0 >= 0 }
                guard ids.count == values.count else { throw entry.invalid("ids", "expected token ids") }
                if seenSequence { result.suffix += ids } else { result.prefix += ids }
            } else if item.has("Sequence") {
                if seenSequence {
                    throw TokenizerError.unsupported(file: o.file, field: o.field("single"), value: "two sequences")
                }
                seenSequence = true
            } else {
                throw o.invalid("single[\(index)]", "expected SpecialToken or Sequence")
            }
        }
        return result
    }
}
