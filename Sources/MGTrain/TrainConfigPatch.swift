/// What can go wrong building, patching or checking a `TrainConfig`; every case names the key or field.
public enum TrainConfigError: Error, Equatable, CustomStringConvertible {
    /// `--set` text without `=` or with an empty key.
    case badSet(String)
    /// A key (path) that the config does not have.
    case unknownKey(String, known: [String])
    /// A `--set` value that cannot be read as the existing value's JSON type.
    case typeMismatch(key: String, value: String, expected: String)
    /// A value that decodes but is out of range.
    case invalidValue(field: String, value: String, reason: String)
    /// The patched JSON did not decode ("key: reason").
    case decoding(String)
    /// A config file that cannot be read or is not a JSON object.
    case file(String, String)

    public var description: String {
        switch self {
        case .badSet(let text):
            return "--set \"\(text)\": expected key.path=value"
        case .unknownKey(let key, let known):
            return "unknown config key \"\(key)\" (known: \(known.joined(separator: ", ")))"
        case .typeMismatch(let key, let value, let expected):
            return "--set \(key)=\(value): expected \(expected)"
        case .invalidValue(let field, let value, let reason):
            return "config field \(field) = \(value): \(reason)"
        case .decoding(let detail):
            return "config does not decode: \(detail)"
        case .file(let path, let detail):
            return "config file \(path): \(detail)"
        }
    }
}

extension TrainConfig {
    /// Applies `--set key.path=value` patches in order. The value is read as the JSON type the key has now
    /// (number, bool, string, array, or anything for a null optional; `null` unsets an optional), written into the full encoding and decoded
    /// back, so a patch cannot produce a config the type would reject. Array elements are addressed by index
    /// (`betas.1=0.95`).
    public func applying(_ sets: [String]) throws -> TrainConfig {
        var root = ConfigJSONValue.object(try jsonObject())
        var config = self
        for set in sets {
            guard let equals = set.firstIndex(of: "="), equals != set.startIndex else {
                throw TrainConfigError.badSet(set)
            }
            let key = String(set[..<equals])
            let text = String(set[set.index(after: equals)...])
            let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            root = try Self.replacing(in: root, path: path[...], fullKey: key, text: text)
            // Decode after each patch so that a value of the right JSON type but wrong for the field (1.5 for an
            // Int, an unknown enum case, null for a required field) is reported with its own key.
            guard case .object(let fields) = root else {
                throw TrainConfigError.decoding("patched config is not an object")
            }
            do {
                config = try Self.decode(jsonObject: fields)
            } catch TrainConfigError.decoding(let detail) {
                throw TrainConfigError.typeMismatch(
                    key: key, value: text, expected: "a value the field accepts (\(detail))")
            }
        }
        return config
    }

    /// `node` with the value at `path` replaced by `text` parsed as the existing value's type.
    private static func replacing(
        in node: ConfigJSONValue, path: ArraySlice<String>, fullKey: String, text: String
    ) throws -> ConfigJSONValue {
        guard let head = path.first else { return try parse(text, like: node, key: fullKey) }
        switch node {
        case .object(var fields):
            guard let child = fields[head] else {
                throw TrainConfigError.unknownKey(fullKey, known: fields.keys.sorted())
            }
            fields[head] = try replacing(in: child, path: path.dropFirst(), fullKey: fullKey, text: text)
            return .object(fields)
        case .array(var items):
            guard let index = Int(head), items.indices.contains(index) else {
                throw TrainConfigError.unknownKey(fullKey, known: items.indices.map { String($0) })
            }
            items[index] = try replacing(in: items[index], path: path.dropFirst(), fullKey: fullKey, text: text)
            return .array(items)
        default:
            throw TrainConfigError.unknownKey(fullKey, known: [])
        }
    }

    /// `text` read as the JSON type of `existing`.
    private static func parse(_ text: String, like existing: ConfigJSONValue, key: String) throws -> ConfigJSONValue {
        let mismatch = TrainConfigError.typeMismatch(key: key, value: text, expected: existing.typeName)
        // `null` unsets an optional (`seed=null`); for a required field the decoder rejects it, naming the key.
        if text == "null" { return .null }
        switch existing {
        case .string:
            return .string(text)  // taken literally: paths and names need no quoting
        case .bool:
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw mismatch
            }
        case .int, .double:
            if let value = Int(text) { return .int(value) }
            if let value = Double(text), value.isFinite { return .double(value) }
            throw mismatch
        case .array, .object:
            guard let value = try? ConfigJSONValue.parse(text), value.typeName == existing.typeName else {
                throw mismatch
            }
            return value
        case .null:
            // An unset optional: accept any JSON literal, else the text as a string; the decoder checks the type.
            return (try? ConfigJSONValue.parse(text)) ?? .string(text)
        }
    }
}
