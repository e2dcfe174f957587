import Foundation
import MGJSON

/// What transformers reads next to the tokenizer model: tokenizer_config.json, special_tokens_map.json and
/// added_tokens.json (all optional).
struct TokenizerConfig {
    /// A special token as written in the files: a plain string, or an AddedToken object with flags.
    struct SpecialToken {
        var content: String
        var token: AddedToken?
    }

    var tokenizerClass: String?
    var addBosToken: Bool?
    var addEosToken: Bool?
    var legacy: Bool?
    var addPrefixSpace: Bool?
    /// "model_max_length"; nil when absent or when it is transformers' "no limit" value (1e30, not an Int).
    var modelMaxLength: Int?
    /// "clean_up_tokenization_spaces"; nil when absent (transformers 4.x then defaults to true).
    var cleanUpTokenizationSpaces: Bool?
    var bos: SpecialToken?
    var eos: SpecialToken?
    var unk: SpecialToken?
    var pad: SpecialToken?
    var additionalSpecial: [SpecialToken] = []
    /// tokenizer_config.json "added_tokens_decoder" (id → token with flags).
    var addedTokensDecoder: [AddedToken] = []
    /// added_tokens.json (content → id), the older way of listing added tokens.
    var addedTokensFile: [(String, Int)] = []

    /// No files: every setting absent.
    init() {}

    init(directory: URL) throws {
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: configURL.path) {
            let o = try JSONObject.load(configURL)
            tokenizerClass = try o.optionalString("tokenizer_class")
            addBosToken = try o.optionalBool("add_bos_token")
            addEosToken = try o.optionalBool("add_eos_token")
            legacy = try o.optionalBool("legacy")
            addPrefixSpace = try o.optionalBool("add_prefix_space")
            if let value = o.value("model_max_length") {
                guard let number = value.double else { throw o.invalid("model_max_length", "expected a number") }
                // The "no limit" placeholder VERY_LARGE_INTEGER is written as a float past Int's range.
                modelMaxLength = number > 0 ? value.int : nil
            }
            cleanUpTokenizationSpaces = try o.optionalBool("clean_up_tokenization_spaces")
            try readSpecialTokens(o)
            if let decoder = try o.optionalObject("added_tokens_decoder") {
                for (key, entry) in try decoder.memberObjects() {
                    guard let id = Int(key), id >= 0, id < Int(Int32.max) else {
                        throw decoder.invalid(key, "key is not a token id")
                    }
                    addedTokensDecoder.append(
                        AddedToken(
                            content: try entry.string("content"), id: id,
                            singleWord: try entry.bool("single_word", default: false),
                            lstrip: try entry.bool("lstrip", default: false),
                            rstrip: try entry.bool("rstrip", default: false),
                            normalized: try entry.bool("normalized", default: true),
                            special: try entry.bool("special", default: false)))
                }
                addedTokensDecoder.sort { $0.id < $1.id }
            }
        }
        // transformers lets special_tokens_map.json override the values of tokenizer_config.json.
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if fm.fileExists(atPath: mapURL.path) { try readSpecialTokens(JSONObject.load(mapURL)) }
        let addedURL = directory.appendingPathComponent("added_tokens.json")
        if fm.fileExists(atPath: addedURL.path) {
            let o = try JSONObject.load(addedURL)
            for member in o.members {
                let content = member.key, value = member.value
                guard let id = value.int, id >= 0, id < Int(Int32.max) else {
                    throw o.invalid(content, "expected a token id")
                }
                addedTokensFile.append((content, id))
            }
            addedTokensFile.sort { $0.1 < $1.1 }
        }
    }

    private mutating func readSpecialTokens(_ o: JSONObject) throws {
        if let t = try Self.specialToken(o, "bos_token") { bos = t }
        if let t = try Self.specialToken(o, "eos_token") { eos = t }
        if let t = try Self.specialToken(o, "unk_token") { unk = t }
        if let t = try Self.specialToken(o, "pad_token") { pad = t }
        if let list = o.value("additional_special_tokens")?.array {
            additionalSpecial = try list.enumerated().map { index, element in
                guard
                    let t = try Self.specialToken(
                        element, file: o.file, field: o.field("additional_special_tokens[\(index)]"))
                else { throw o.invalid("additional_special_tokens", "entry \(index) is empty") }
                return t
            }
        }
    }

    private static func specialToken(_ o: JSONObject, _ key: String) throws -> SpecialToken? {
        guard let value = o.value(key) else { return nil }
        return try specialToken(value, file: o.file, field: o.field(key))
    }

    private static func specialToken(_ value: JSONValue, file: String, field: String) throws -> SpecialToken? {
        if let s = value.string { return SpecialToken(content: s, token: nil) }
        guard let members = value.members else {
            throw TokenizerError.invalidField(
                file: file, field: field, reason: "expected a string or an AddedToken object")
        }
        let o = JSONObject(file: file, path: field, members: members)
        let content = try o.string("content")
        let token = AddedToken(
            content: content, id: -1, singleWord: try o.bool("single_word", default: false),
            lstrip: try o.bool("lstrip", default: false), rstrip: try o.bool("rstrip", default: false),
            normalized: try o.bool("normalized", default: false), special: true)
        return SpecialToken(content: content, token: token)
    }

    /// CLIPTokenizer(Fast)'s constructor defaults for the tokens the files leave out.
    mutating func applyCLIPDefaults() {
        if bos == nil { bos = SpecialToken(content: CLIPConversion.defaultBos, token: nil) }
        if eos == nil { eos = SpecialToken(content: CLIPConversion.defaultEos, token: nil) }
        if unk == nil { unk = SpecialToken(content: CLIPConversion.defaultEos, token: nil) }
        if pad == nil { pad = SpecialToken(content: CLIPConversion.defaultEos, token: nil) }
    }

    var specialTokens: [SpecialToken] {
        [bos, eos, unk, pad].compactMap { $0 } + additionalSpecial
    }
}
