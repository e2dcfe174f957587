import Foundation

/// Everything that can go wrong reading or writing a checkpoint, in either format: safetensors files, PyTorch
/// `torch.save` files (`.pth`, `.bin`), and the index of a sharded checkpoint of either.
///
/// The safetensors cases follow the reference implementation's `SafeTensorError` (huggingface/safetensors,
/// `safetensors/src/tensor.rs`) one to one, so a failure can be compared with what Python would say. Every
/// message names the file, the tensor key or archive entry where there is one, and the offending value. Offsets
/// in a torch file's `data.pkl` are relative to the start of that entry's data (the numbers
/// `python -m pickletools` prints); zip offsets are from the start of the file.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    // MARK: safetensors reading (reference: SafeTensorError)

    /// The file is shorter than the 8-byte header length prefix (reference: HeaderTooSmall).
    case headerTooSmall(path: String, fileSize: Int)
    /// The header length prefix exceeds 100,000,000 bytes (reference: HeaderTooLarge).
    case headerTooLarge(path: String, headerLength: UInt64)
    /// 8 + header length runs past the end of the file (reference: InvalidHeaderLength).
    case invalidHeaderLength(path: String, headerLength: UInt64, fileSize: Int)
    /// The header bytes are not UTF-8; `offset` is the first bad byte within the header (reference: InvalidHeader).
    case invalidHeaderUTF8(path: String, offset: Int)
    /// The header is not JSON of the expected structure (reference: InvalidHeaderDeserialization). `offset` is
    /// the byte within the header JSON where the problem was found.
    case invalidHeaderJSON(path: String, offset: Int, reason: String)
    /// A tensor's data does not begin where the previous one (in offset order) ended, or ends before it begins
    /// (reference: InvalidOffset).
    case invalidOffset(path: String, key: String, dataOffsets: [UInt64], expectedBegin: UInt64)
    /// Element count or byte size of a shape overflows (reference: ValidationOverflow).
    case validationOverflow(path: String, key: String, shape: [UInt64], dtype: String)
    /// A sub-byte dtype whose element count does not fill whole bytes (reference: MisalignedSlice).
    case misalignedSlice(path: String, key: String, shape: [Int], dtype: String)
    /// data_offsets disagree with shape × dtype size (reference: TensorInvalidInfo).
    case tensorInvalidInfo(
        path: String, key: String, dataOffsets: [UInt64], shape: [Int], dtype: String,
        expectedBytes: Int)
    /// The tensors do not cover the data section exactly: bytes are missing or trail after the last tensor
    /// (reference: MetadataIncompleteBuffer).
    case metadataIncompleteBuffer(path: String, dataEnd: UInt64, dataLength: Int)
    /// No tensor of that name (reference: TensorNotFound); for a torch file, none in its state dict.
    case tensorNotFound(path: String, key: String)
    /// A dtype this package cannot represent as a `Tensor`: for safetensors a valid dtype such as F64, I8, F8_*;
    /// for torch an element type such as complex, quantized or float8. The message lists what `format` reads.
    case unsupportedDType(path: String, key: String, dtype: String, format: CheckpointFormat)
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// The path exists but is not a regular file (a directory, a FIFO, …).
    case notARegularFile(path: String)

    // MARK: torch.save reading

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

    // MARK: sharded checkpoints (model.safetensors.index.json, pytorch_model.bin.index.json)

    /// The index file is not JSON of the form {"metadata": {...}, "weight_map": {key: shard}}.
    case invalidIndex(path: String, offset: Int, reason: String)
    /// The index maps `key` to a shard file that does not exist (or whose name is not a plain file name).
    case missingShard(indexPath: String, key: String, shard: String)
    /// The index says `key` lives in `shardPath`, but that shard has no such tensor.
    case shardMissingTensor(indexPath: String, shardPath: String, key: String)
    /// A folder with neither `format`'s single file nor its index (`model.safetensors` /
    /// `model.safetensors.index.json`, `pytorch_model.bin` / `pytorch_model.bin.index.json`).
    case noCheckpoint(directory: String, format: CheckpointFormat)

    // MARK: writing

    /// The tensors or metadata cannot be written as safetensors (reserved key, header too large, …).
    case invalidWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .headerTooSmall(path, size):
            return "\(path): file is \(size) bytes, too small for the 8-byte safetensors header length"
        case let .headerTooLarge(path, n):
            return "\(path): header length \(n) exceeds the safetensors limit of 100000000 bytes"
        case let .invalidHeaderLength(path, n, size):
            return "\(path): header length \(n) runs past the end of the file (8 + \(n) > \(size) bytes)"
        case let .invalidHeaderUTF8(path, offset):
            return "\(path): header is not valid UTF-8 (bad byte at header offset \(offset))"
        case let .invalidHeaderJSON(path, offset, reason):
            return "\(path): invalid header JSON at header byte \(offset): \(reason)"
        case let .invalidOffset(path, key, offsets, expected):
            let (begin, end) = (offsets.first ?? 0, offsets.last ?? 0)
            if end < begin {
                return "\(path): tensor '\(key)': data_offsets \(list(offsets)) end before they begin"
            }
            return "\(path): tensor '\(key)': data_offsets \(list(offsets)) should begin at \(expected) "
                + "(tensors must tile the data section without gaps or overlaps)"
        case let .validationOverflow(path, key, shape, dtype):
            return "\(path): tensor '\(key)': size of shape \(list(shape)) × \(dtype) overflows"
        case let .misalignedSlice(path, key, shape, dtype):
            return "\(path): tensor '\(key)': shape \(list(shape)) × \(dtype) is not a whole number of bytes"
        case let .tensorInvalidInfo(path, key, offsets, shape, dtype, expected):
            return "\(path): tensor '\(key)': data_offsets \(list(offsets)) do not match shape \(list(shape)) "
                + "× \(dtype) = \(expected) bytes"
        case let .metadataIncompleteBuffer(path, end, length):
            let detail =
                UInt64(length) > end
                ? "\(UInt64(length) - end) trailing bytes" : "\(end - UInt64(length)) bytes missing"
            return "\(path): tensors cover \(end) bytes of data but the file holds \(length) after the header "
                + "(\(detail))"
        case let .tensorNotFound(path, key):
            return "\(path): no tensor '\(key)'"
        case let .unsupportedDType(path, key, dtype, format):
            let dtypes = DType.allCases.filter { !$0.isBlockQuantized }.map(\.rawValue).joined(separator: ", ")
            switch format {
            case .safetensors:
                return "\(path): tensor '\(key)': unsupported dtype \(dtype) (supported: \(dtypes))"
            case .torch:
                return "\(path): tensor '\(key)': unsupported dtype \(dtype) "
                    + "(readable: \(dtypes), F64 as F32, I8/I16/U16 as I32, U32 as I64)"
            }
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
        case let .invalidIndex(path, offset, reason):
            return "\(path): invalid checkpoint index at byte \(offset): \(reason)"
        case let .missingShard(indexPath, key, shard):
            return "\(indexPath): tensor '\(key)' is mapped to shard '\(shard)', which does not exist"
        case let .shardMissingTensor(indexPath, shardPath, key):
            return "\(shardPath): no tensor '\(key)', although \(indexPath) maps it to this shard"
        case let .noCheckpoint(directory, format):
            return "\(directory): neither \(format.singleFileName) nor \(format.indexFileName) found"
        case let .invalidWrite(path, reason):
            return "\(path): cannot write safetensors: \(reason)"
        }
    }
}

/// "[2, 3]" — shapes and offsets printed the way the messages quote them.
private func list<T>(_ values: [T]) -> String {
    "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
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
