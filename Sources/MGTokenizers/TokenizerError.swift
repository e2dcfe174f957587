// Errors thrown while loading tokenizer files. Every case names the file (and, where there is one, the field) so that
// a broken download or an unsupported tokenizer is diagnosed from the message alone.

/// Why a tokenizer cannot be loaded, naming the file and the field or value at fault.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// The directory holds neither `tokenizer.json` nor `tokenizer.model`.
    case noTokenizerFiles(directory: String)
    /// A file exists but could not be read.
    case unreadableFile(file: String, reason: String)
    /// `tokenizer.model` is not a well-formed protobuf `ModelProto` (truncated, bad varint, bad wire type…).
    case malformedProtobuf(file: String, reason: String)
    /// A JSON file does not parse, or its top level is not an object.
    case invalidJSON(file: String, reason: String)
    /// A required field is absent, e.g. `model.merges` in tokenizer.json.
    case missingField(file: String, field: String)
    /// A field is present but its value is wrong (type, range, reference to an unknown token…).
    case invalidField(file: String, field: String, reason: String)
    /// The file asks for something this implementation does not do (a model type, pre-tokenizer, normalizer…).
    case unsupported(file: String, field: String, value: String)
    /// The model as a whole is inconsistent (duplicate pieces, no unknown piece, missing byte pieces…).
    case invalidModel(file: String, reason: String)
    /// A token id outside the vocabulary was given to a SentencePiece decode.
    case idOutOfRange(id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case .noTokenizerFiles(let directory):
            return "\(directory): no tokenizer.json or tokenizer.model found"
        case .unreadableFile(let file, let reason):
            return "\(file): cannot read: \(reason)"
        case .malformedProtobuf(let file, let reason):
            return "\(file): malformed protobuf: \(reason)"
        case .invalidJSON(let file, let reason):
            return "\(file): invalid JSON: \(reason)"
        case .missingField(let file, let field):
            return "\(file): missing \"\(field)\""
        case .invalidField(let file, let field, let reason):
            return "\(file): invalid \"\(field)\": \(reason)"
        case .unsupported(let file, let field, let value):
            return "\(file): unsupported \"\(field)\" = \(value)"
        case .invalidModel(let file, let reason):
            return "\(file): invalid model: \(reason)"
        case .idOutOfRange(let id, let size):
            return "token id \(id) is out of range (vocabulary size \(size))"
        }
    }
}
