import Foundation
import MGJSON

/// An error in a model's JSON config file: names the file, the key path and what was wrong.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var path: String
    public var key: String
    public var reason: String

    public init(path: String, key: String, reason: String) {
        self.path = path
        self.key = key
        self.reason = reason
    }

    public var description: String { key.isEmpty ? "\(path): \(reason)" : "\(path): '\(key)': \(reason)" }
}

/// JSONSerialization hands back booleans as NSNumber too; their Objective-C type code is "c" (char).
func isJSONBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

/// Typed, error-reporting access to one JSON object of a config file. Unknown fields are ignored (as transformers
/// does); a required field that is missing or has the wrong type throws a `ConfigError` naming file and key.
public struct ConfigObject {
    public let path: String
    public let keyPrefix: String
    public let values: [String: Any]

    public init(path: String, keyPrefix: String = "", values: [String: Any]) {
        self.path = path
        self.keyPrefix = keyPrefix
        self.values = values
    }

    /// Parses a whole file; the top level must be a JSON object.
    public static func load(_ url: URL) throws -> ConfigObject {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(path: path, key: "", reason: "cannot read the file (\(error.localizedDescription))")
        }
        if let syntax = JSONSyntax.firstError(in: data) {
            let position = syntax.position(in: data)
            throw ConfigError(
                path: path, key: "",
                reason: "not valid JSON at line \(position.line), column "
                    + "\(position.column): \(syntax.message)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ConfigError(path: path, key: "", reason: "not valid JSON (\(detail))")
        }
        guard let dict = object as? [String: Any] else {
            throw ConfigError(path: path, key: "", reason: "the top level must be a JSON object")
        }
        return ConfigObject(path: path, values: dict)
    }

    func fullKey(_ key: String) -> String { keyPrefix.isEmpty ? key : keyPrefix + "." + key }

    func fail(_ key: String, _ reason: String) -> ConfigError {
        ConfigError(path: path, key: fullKey(key), reason: reason)
    }

    /// True when the key is present and not JSON null.
    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    public func int(_ key: String) throws -> Int {
        guard has(key) else { throw fail(key, "required field is missing") }
        return try int(key, default: 0)
    }

    public func int(_ key: String, default value: Int) throws -> Int {
        guard has(key), let raw = values[key] else { return value }
        // JSONSerialization gives NSNumber; reject booleans and non-integral numbers explicitly.
        if let n = raw as? NSNumber, !isJSONBool(n) {
            let d = n.doubleValue
            if d == d.rounded(), Swift.abs(d) < 9.0e15 { return Int(d) }
        }
        throw fail(key, "expected an integer, found \(describe(raw))")
    }

    public func double(_ key: String) throws -> Double {
        guard has(key) else { throw fail(key, "required field is missing") }
        return try double(key, default: 0)
    }

    public func double(_ key: String, default value: Double) throws -> Double {
        guard has(key), let raw = values[key] else { return value }
        if let n = raw as? NSNumber, !isJSONBool(n), n.doubleValue.isFinite { return n.doubleValue }
        throw fail(key, "expected a number, found \(describe(raw))")
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard has(key), let raw = values[key] else { return value }
        if let n = raw as? NSNumber, isJSONBool(n) { return n.boolValue }
        throw fail(key, "expected true or false, found \(describe(raw))")
    }

    public func string(_ key: String) throws -> String {
        guard has(key) else { throw fail(key, "required field is missing") }
        return try string(key, default: "")
    }

    public func string(_ key: String, default value: String) throws -> String {
        guard has(key), let raw = values[key] else { return value }
        if let s = raw as? String { return s }
        throw fail(key, "expected a string, found \(describe(raw))")
    }

    /// An integer or a list of integers (e.g. `eos_token_id`).
    public func ints(_ key: String, default value: [Int]) throws -> [Int] {
        guard has(key), let raw = values[key] else { return value }
        if let list = raw as? [Any] {
            return try list.enumerated().map { i, element in
                try ConfigObject(path: path, keyPrefix: fullKey(key), values: ["\(i)": element]).int("\(i)")
            }
        }
        return [try int(key)]
    }

    public func doubles(_ key: String, default value: [Double]) throws -> [Double] {
        guard has(key), let raw = values[key] else { return value }
        guard let list = raw as? [Any] else { throw fail(key, "expected a list of numbers, found \(describe(raw))") }
        return try list.enumerated().map { i, element in
            try ConfigObject(path: path, keyPrefix: fullKey(key), values: ["\(i)": element]).double("\(i)")
        }
    }

    /// A nested object, or nil when absent or null.
    public func object(_ key: String) throws -> ConfigObject? {
        guard has(key), let raw = values[key] else { return nil }
        guard let dict = raw as? [String: Any] else { throw fail(key, "expected an object, found \(describe(raw))") }
        return ConfigObject(path: path, keyPrefix: fullKey(key), values: dict)
    }

    private func describe(_ value: Any) -> String {
        if let s = value as? String { return "the string \"\(s.prefix(40))\"" }
        if let n = value as? NSNumber { return isJSONBool(n) ? "\(n.boolValue)" : "\(n)" }
        if value is [Any] { return "a list" }
        if value is [String: Any] { return "an object" }
        if value is NSNull { return "null" }
        return "\(type(of: value))"
    }
}
