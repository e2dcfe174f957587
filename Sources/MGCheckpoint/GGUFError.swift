import Foundation

/// What can go wrong reading or writing a GGUF file (llama.cpp's model container). Every message names the file and
/// the metadata key or tensor concerned, with the offending value; offsets are from the start of the file.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    /// The file does not start with the magic "GGUF" (a big-endian file reads as a huge version instead).
    case notGGUF(path: String, magic: [UInt8])
    /// A version this reader does not read (1 predates 64-bit counts; 2 and 3 are read).
    case unsupportedVersion(path: String, version: UInt32)
    /// The file ends in the middle of something.
    case truncated(path: String, offset: Int, reading: String)
    /// A metadata entry is malformed: a bad type code, a count larger than the file, a duplicate key, a value of the
    /// wrong type for a key this reader uses.
    case invalidMetadata(path: String, key: String, reason: String)
    /// A tensor's description or data is inconsistent: name, dimensions, offset, alignment, overlap, size.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A tensor of a ggml type that cannot be read into a `Tensor`.
    case unsupportedTensorType(path: String, tensor: String, type: String)
    /// A metadata key the model needs is absent.
    case missingKey(path: String, key: String)
    /// The tensors or metadata cannot be written as GGUF.
    case invalidWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notGGUF(path, magic):
            let shown = magic.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(path): not a GGUF file (starts with \(shown), expected 47 47 55 46 \"GGUF\")"
        case let .unsupportedVersion(path, version):
            return "\(path): GGUF version \(version) is not supported (versions 2 and 3 are; a version of 33554432 "
                + "or more is usually a big-endian file)"
        case let .truncated(path, offset, reading):
            return "\(path): the file ends at byte \(offset) while reading \(reading) (truncated download?)"
        case let .invalidMetadata(path, key, reason):
            return "\(path): metadata '\(key)': \(reason)"
        case let .invalidTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case let .unsupportedTensorType(path, tensor, type):
            let readable = GGMLType.readable.map(\.name).joined(separator: ", ")
            return "\(path): tensor '\(tensor)': type \(type) is not supported (readable: \(readable)); "
                + "re-quantize the model with `mgllava quantize` or llama-quantize to one of these"
        case let .missingKey(path, key):
            return "\(path): metadata key '\(key)' is missing"
        case let .invalidWrite(path, reason):
            return "\(path): cannot write GGUF: \(reason)"
        }
    }
}

extension GGUFError: LocalizedError {
    public var errorDescription: String? { description }
}
