import Foundation

/// An error in a model's JSON config file: names the file, the key path (dotted, list indices as numbers, e.g.
/// `vision_config.hidden_size` or `eos_token_id.1`; empty for the file as a whole) and what was wrong.
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

/// Reads a model's JSON config file (HF `config.json`, open_clip's `open_clip_config.json`) into a `Decodable`
/// type: the strict syntax check first (Foundation's parser accepts trailing commas that Python's `json` refuses),
/// then `JSONDecoder`; every failure, the type's own validation included, comes back as a `ConfigError` naming the
/// file and the dotted key path.
///
/// Types decoded here throw `DecodingError.dataCorrupted` (e.g. `dataCorruptedError(forKey:in:debugDescription:)`)
/// for values they refuse: its coding path becomes the key and its description the reason. Integer fields should
/// use `decodeInteger(forKey:)` and its siblings, which name the key for non-integral numbers (Foundation's
/// decoder loses the key there) and accept integral numbers written as `8.0`, as Python does.
public enum ConfigFile {
    /// `url` itself, or `url/defaultName` when `url` is a folder.
    public static func resolve(_ url: URL, defaultName: String) -> URL {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
        return url.hasDirectoryPath || (exists && isFolder.boolValue) ? url.appendingPathComponent(defaultName) : url
    }

    /// Reads `url` and decodes it as `T`; the top level must be a JSON object.
    public static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(path: path, key: "", reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(type, from: data, path: path)
    }

    /// Decodes JSON text as `T`, errors naming `path` as the file.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws -> T {
        if let syntax = JSONSyntax.firstError(in: data) {
            let position = syntax.position(in: data)
            throw ConfigError(
                path: path, key: "",
                reason: "not valid JSON at line \(position.line), column \(position.column): \(syntax.message)")
        }
        let tree: JSONValue
        do { tree = try JSONValue.parse(data) } catch {
            throw ConfigError(path: path, key: "", reason: "not valid JSON (\(error))")
        }
        guard case .object = tree else {
            throw ConfigError(path: path, key: "", reason: "the top level must be a JSON object")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw configError(error, path: path, tree: tree)
        }
    }

    /// The `ConfigError` a decoding error means: the coding path as a dotted key, the value found there described.
    static func configError(_ error: DecodingError, path: String, tree: JSONValue) -> ConfigError {
        func dotted(_ keys: [CodingKey]) -> String {
            keys.map { key in key.intValue.map(String.init) ?? key.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return ConfigError(path: path, key: dotted(context.codingPath + [key]), reason: "required field is missing")
        case .valueNotFound(_, let context):
            return ConfigError(path: path, key: dotted(context.codingPath), reason: "required field is missing")
        case .typeMismatch(let type, let context):
            var reason = "expected \(describe(type))"
            if let found = value(at: context.codingPath, in: tree) { reason += ", found \(describe(found))" }
            return ConfigError(path: path, key: dotted(context.codingPath), reason: reason)
        case .dataCorrupted(let context):
            return ConfigError(path: path, key: dotted(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return ConfigError(path: path, key: "", reason: "\(error)")
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is [Any].Type: return "a list"
        case is [String: Any].Type: return "an object"
        default:
            let name = "\(type)"
            return name.hasPrefix("Array") ? "a list" : name.hasPrefix("Dictionary") ? "an object" : name
        }
    }

    /// A short description of a JSON value for error messages.
    public static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d, let i): return i.map(String.init) ?? "\(d)"
        case .string(let s): return "the string \"\(s.prefix(40))\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    static func value(at keys: [CodingKey], in tree: JSONValue) -> JSONValue? {
        var node = tree
        for key in keys {
            switch node {
            case .object(let members):
                guard let member = members.last(where: { $0.key == key.stringValue }) else { return nil }
                node = member.value
            case .array(let items):
                guard let i = key.intValue, items.indices.contains(i) else { return nil }
                node = items[i]
            default:
                return nil
            }
        }
        return node
    }
}

extension KeyedDecodingContainer {
    /// An integer field: a JSON number with no fractional part (`8` or `8.0`); anything else throws an error
    /// naming the key ("expected an integer, found …").
    public func decodeInteger(forKey key: Key) throws -> Int {
        let number: Double
        do { number = try decode(Double.self, forKey: key) } catch DecodingError.typeMismatch(_, let context) {
            throw DecodingError.typeMismatch(Int.self, context)
        }
        guard number == number.rounded(), Swift.abs(number) < 9.0e15 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "expected an integer, found \(number)")
        }
        return Int(number)
    }

    /// `decodeInteger(forKey:)`, or nil when the key is absent or null.
    public func decodeIntegerIfPresent(forKey key: Key) throws -> Int? {
        try isAbsentOrNull(key) ? nil : decodeInteger(forKey: key)
    }

    /// An integer or a list of integers (`eos_token_id`, open_clip's `image_size`), or nil when absent or null.
    public func decodeIntegersIfPresent(forKey key: Key) throws -> [Int]? {
        guard try !isAbsentOrNull(key) else { return nil }
        if var list = try? nestedUnkeyedContainer(forKey: key) {
            var values: [Int] = []
            while !list.isAtEnd {
                let number: Double
                do { number = try list.decode(Double.self) } catch DecodingError.typeMismatch(_, let context) {
                    throw DecodingError.typeMismatch(Int.self, context)
                }
                guard number == number.rounded(), Swift.abs(number) < 9.0e15 else {
                    let index = IndexKey(intValue: list.currentIndex - 1)
                    throw DecodingError.dataCorrupted(
                        .init(
                            codingPath: list.codingPath + [index],
                            debugDescription: "expected an integer, found \(number)"))
                }
                values.append(Int(number))
            }
            return values
        }
        return [try decodeInteger(forKey: key)]
    }
}

extension KeyedDecodingContainer {
    /// True when the key is absent or JSON null.
    fileprivate func isAbsentOrNull(_ key: Key) throws -> Bool {
        guard contains(key) else { return true }
        return try decodeNil(forKey: key)
    }
}

/// A list index as a coding key.
private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?

    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}
