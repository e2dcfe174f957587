import Foundation

/// Everything that can go wrong reading a PyTorch `torch.save` file (`.pth`, `.bin`).
///
/// Every message names the file, the archive entry or state-dict key where there is one, the byte offset where the
/// problem was found, and the offending value. Offsets in `data.pkl` are relative to the start of that entry's data
/// (the numbers `python -m pickletools` prints); zip offsets are from the start of the file.
///
/// The index of a sharded checkpoint (`pytorch_model.bin.index.json`) has the same format as the safetensors one,
/// and its cases below say the same things as `CheckpointError`'s.
public enum TorchCheckpointError: Error, Equatable, CustomStringConvertible {
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// The path exists but is not a regular file.
    case notARegularFile(path: String)
    /// A pre-1.6 `torch.save` file (a bare pickle starting with the magic number, or a tar archive).
    case legacyFormat(path: String, detail: String)
    /// Not a torch.save zip archive (those start with a zip local header, "PK\u{3}\u{4}"), e.g. an empty file,
    /// a bare pickle, or a TorchScript archive.
    case notATorchSave(path: String, detail: String)
    /// The zip structure (end record, ZIP64 records, central directory) is damaged or truncated.
    case corruptZip(path: String, offset: Int, reason: String)
    /// One archive entry is unusable: compressed, encrypted, out of bounds, overlapping another, duplicated.
    case badZipEntry(path: String, entry: String, offset: Int, reason: String)
    /// An entry torch.save always writes (or one the pickle refers to) is missing.
    case missingEntry(path: String, entry: String, reason: String)
    /// `byteorder` holds something other than "little" or "big" (`value` is quoted as Python would).
    case invalidByteOrder(path: String, entry: String, value: String)
    /// `data.pkl` is not a pickle this reader accepts (bad opcode, truncated, stack or memo misuse, …).
    case invalidPickle(path: String, entry: String, offset: Int, reason: String)
    /// `data.pkl` would run code under `torch.load` (calls `os.system`, `builtins.eval`, …). Nothing was run.
    /// `callee` is the refused global ("os.system"); `call` shows the call as the file spells it.
    case codeExecution(path: String, entry: String, offset: Int, callee: String, call: String)
    /// A storage reference disagrees with the archive (size, type), or a tensor indexes outside its storage.
    case invalidStorage(path: String, entry: String, offset: Int, reason: String)
    /// No dict of tensors where `stateDict()` looked.
    case noStateDict(path: String, reason: String)
    /// A state-dict entry is not a tensor.
    case notATensor(path: String, key: String, found: String)
    /// No tensor of that name in the state dict.
    case tensorNotFound(path: String, key: String)
    /// A tensor whose element type cannot be represented as a `Tensor` (complex, quantized, float8, …).
    case unsupportedDType(path: String, key: String, dtype: String)

    // MARK: sharded checkpoints (pytorch_model.bin.index.json)

    /// The index file is not JSON of the form {"metadata": {...}, "weight_map": {key: shard}}.
    case invalidIndex(path: String, offset: Int, reason: String)
    /// The index maps `key` to a shard file that does not exist (or whose name is not a plain file name).
    case missingShard(indexPath: String, key: String, shard: String)
    /// The index says `key` lives in `shardPath`, but that shard's state dict has no such tensor.
    case shardMissingTensor(indexPath: String, shardPath: String, key: String)
    /// A folder with neither `pytorch_model.bin` nor `pytorch_model.bin.index.json`.
    case noCheckpoint(directory: String)

    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .notARegularFile(path):
            return "\(path): not a regular file"
        case let .legacyFormat(path, detail):
            return "\(path): legacy torch.save format (PyTorch < 1.6, \(detail)), not supported; "
                + "re-save it with a current PyTorch"
        case let .notATorchSave(path, detail):
            return "\(path): not a torch.save checkpoint: \(detail)"
        case let .corruptZip(path, offset, reason):
            return "\(path): corrupt zip archive at byte \(offset): \(reason)"
        case let .badZipEntry(path, entry, offset, reason):
            return "\(path): zip entry '\(entry)' (byte \(offset)): \(reason)"
        case let .missingEntry(path, entry, reason):
            return "\(path): no entry '\(entry)' in the archive (\(reason))"
        case let .invalidByteOrder(path, entry, value):
            return "\(path): \(entry) is \(value), expected 'little' or 'big'"
        case let .invalidPickle(path, entry, offset, reason):
            return "\(path): \(entry) at byte \(offset): \(reason)"
        case let .codeExecution(path, entry, offset, _, call):
            return "\(path): \(entry) calls \(call) at byte \(offset); refusing a file that would run code under "
                + "torch.load (nothing was executed)"
        case let .invalidStorage(path, entry, offset, reason):
            return "\(path): \(entry) at byte \(offset): \(reason)"
        case let .noStateDict(path, reason):
            return "\(path): no state dict found: \(reason)"
        case let .notATensor(path, key, found):
            return "\(path): state-dict entry '\(key)' is \(found), not a tensor"
        case let .tensorNotFound(path, key):
            return "\(path): no tensor '\(key)'"
        case let .unsupportedDType(path, key, dtype):
            return "\(path): tensor '\(key)': unsupported dtype \(dtype) "
                + "(readable: \(DType.allCases.map(\.rawValue).joined(separator: ", ")), F64 as F32, I8/I16/U16 as I32, "
                + "U32 as I64)"
        case let .invalidIndex(path, offset, reason):
            return "\(path): invalid checkpoint index at byte \(offset): \(reason)"
        case let .missingShard(indexPath, key, shard):
            return "\(indexPath): tensor '\(key)' is mapped to shard '\(shard)', which does not exist"
        case let .shardMissingTensor(indexPath, shardPath, key):
            return "\(shardPath): no tensor '\(key)', although \(indexPath) maps it to this shard"
        case let .noCheckpoint(directory):
            return "\(directory): neither pytorch_model.bin nor pytorch_model.bin.index.json found"
        }
    }
}

/// A string quoted the way Python's repr would show it (short, single quotes, control characters escaped), so an
/// error quotes a payload without letting it break the message.
func pythonRepr(_ text: String, limit: Int = 200) -> String {
    var out = "'"
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit { out += "…"; break }
        count += 1
        switch scalar {
        case "\\": out += "\\\\"
        case "'": out += "\\'"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += String(format: "\\x%02x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "'"
}
