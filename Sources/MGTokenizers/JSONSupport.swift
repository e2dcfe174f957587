import Foundation
import MGJSON

/// Typed access to a JSON object that turns every missing or mistyped value into a `TokenizerError` naming the file
/// and the dotted field path (e.g. `tokenizer.json: missing "model.merges"`).
struct JSONObject {
    let file: String
    let path: String
    let members: [JSONMember]

    static func load(_ url: URL) throws -> JSONObject {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(file: url.path, reason: error.localizedDescription)
        }
        let value: JSONValue
        do {
            // BOM tolerated, duplicates kept in order (lookups below take the last), nesting up to 512.
            value = try JSONValue.parse(data)
        } catch {
            throw TokenizerError.invalidJSON(file: url.path, reason: "\(error)")
        }
        guard let members = value.members else {
            throw TokenizerError.invalidJSON(file: url.path, reason: "the top level is not an object")
        }
        return JSONObject(file: url.path, path: "", members: members)
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The last member named `key` (later duplicates win, as in most JSON readers), compared by exact bytes.
    private func member(_ key: String) -> JSONValue? {
        let count = key.utf8.count
        for m in members.reversed() where m.key.utf8.count == count && m.key.utf8.elementsEqual(key.utf8) {
            return m.value
        }
        return nil
    }

    func has(_ key: String) -> Bool { member(key) != nil }

    /// The value, treating JSON null like an absent member.
    func value(_ key: String) -> JSONValue? {
        guard let value = member(key), !value.isNull else { return nil }
        return value
    }

    func require(_ key: String) throws -> JSONValue {
        guard let value = value(key) else { throw TokenizerError.missingField(file: file, field: field(key)) }
        return value
    }

    func invalid(_ key: String, _ reason: String) -> TokenizerError {
        .invalidField(file: file, field: field(key), reason: reason)
    }

    func string(_ key: String) throws -> String {
        guard let s = try require(key).string else { throw invalid(key, "expected a string") }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let s = value.string else { throw invalid(key, "expected a string") }
        return s
    }

    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        try optionalBool(key) ?? defaultValue
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let b = value.bool else { throw invalid(key, "expected true or false") }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let i = try require(key).int else { throw invalid(key, "expected an integer") }
        return i
    }

    /// A token id: an integer in 0..<Int32.max (ids are stored as Int32, and one more id may be appended).
    func tokenId(_ key: String) throws -> Int {
        let id = try int(key)
        guard id >= 0, id < Int(Int32.max) else { throw invalid(key, "token id \(id) is out of range") }
        return id
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let i = value.int else { throw invalid(key, "expected an integer") }
        return i
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = value(key) else { return nil }
        guard let d = value.double else { throw invalid(key, "expected a number") }
        return d
    }

    func object(_ key: String) throws -> JSONObject {
        guard let m = try require(key).members else { throw invalid(key, "expected an object") }
        return JSONObject(file: file, path: field(key), members: m)
    }

    func optionalObject(_ key: String) throws -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard let m = value.members else { throw invalid(key, "expected an object") }
        return JSONObject(file: file, path: field(key), members: m)
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let a = try require(key).array else { throw invalid(key, "expected an array") }
        return a
    }

    /// Elements of an array of objects, each with its indexed path (`pre_tokenizer.pretokenizers[1]`).
    func objects(_ key: String) throws -> [JSONObject] {
        try array(key).enumerated().map { index, element in
            guard let m = element.members else { throw invalid("\(key)[\(index)]", "expected an object") }
            return JSONObject(file: file, path: "\(field(key))[\(index)]", members: m)
        }
    }

    /// Every member as an object with its path (`added_tokens_decoder.700`).
    func memberObjects() throws -> [(key: String, object: JSONObject)] {
        try members.map { member in
            guard let m = member.value.members else { throw invalid(member.key, "expected an object") }
            return (member.key, JSONObject(file: file, path: field(member.key), members: m))
        }
    }
}
