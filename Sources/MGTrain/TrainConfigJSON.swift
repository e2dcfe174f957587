import Foundation
import MGJSON

/// A JSON value as the config's encoding has it. Integers and doubles are kept apart so that a patched `batch_size`
/// is written back as `8`, not `8.0`, and a fractional value for an integer field is caught by the decoder.
public enum ConfigJSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ConfigJSONValue])
    case object([String: ConfigJSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ConfigJSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ConfigJSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Parses a JSON text (a literal, array or object).
    static func parse(_ text: String) throws -> ConfigJSONValue {
        try JSONDecoder().decode(ConfigJSONValue.self, from: Data(text.utf8))
    }
}

extension TrainConfig {
    /// The config as a JSON object keyed by the upstream variable names, with `null` for every unset optional
    /// (the synthesised encoder leaves them out, and `--set pretrained_pth=…` must find the key).
    public func jsonObject() throws -> [String: ConfigJSONValue] {
        let data = try JSONEncoder().encode(self)
        guard case .object(var fields) = try JSONDecoder().decode(ConfigJSONValue.self, from: data) else {
            throw TrainConfigError.decoding("the config did not encode to a JSON object")
        }
        for key in CodingKeys.allCases where fields[key.rawValue] == nil { fields[key.rawValue] = .null }
        return fields
    }

    /// Decodes a config from a complete JSON object (as `jsonObject()` makes); errors name the offending key.
    public static func decode(jsonObject fields: [String: ConfigJSONValue]) throws -> TrainConfig {
        do {
            let data = try JSONEncoder().encode(ConfigJSONValue.object(fields))
            return try JSONDecoder().decode(TrainConfig.self, from: data)
        } catch let error as DecodingError {
            throw TrainConfigError.decoding(Self.describe(error))
        }
    }

    /// Pretty JSON with sorted keys: what `mgllava configs dump` prints and `--config-file` reads back.
    public func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(ConfigJSONValue.object(try jsonObject()))
        return String(decoding: data, as: UTF8.self)
    }

    /// Loads a `--config-file`: a JSON object (usually a full dump) patched over `base`, so keys the file leaves
    /// out keep the base's values instead of failing to decode. Unknown keys are errors (a typo must not be ignored).
    public static func load(jsonFile url: URL, over base: TrainConfig = TrainConfig()) throws -> TrainConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TrainConfigError.file(url.path, "cannot read: \(DataError.plainReason(error))")
        }
        if let syntax = JSONSyntax.firstError(in: data) {
            let position = syntax.position(in: data)
            throw TrainConfigError.file(
                url.path,
                "not valid JSON at line \(position.line), column \(position.column): "
                    + syntax.message)
        }
        let parsed: ConfigJSONValue
        do { parsed = try JSONDecoder().decode(ConfigJSONValue.self, from: data) } catch {
            throw TrainConfigError.file(url.path, "not valid JSON")
        }
        guard case .object(let patch) = parsed else {
            throw TrainConfigError.file(url.path, "expected a JSON object, found \(parsed.typeName)")
        }
        var fields = try base.jsonObject()
        for (key, value) in patch {
            guard fields[key] != nil else { throw TrainConfigError.unknownKey(key, known: fields.keys.sorted()) }
            fields[key] = value
        }
        return try decode(jsonObject: fields)
    }

    /// "key: reason" for a decoding error, with the key path in JSON spelling.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return text.isEmpty ? "value" : text  // some decoder errors (a fraction for an Int) carry no path
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(type), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
