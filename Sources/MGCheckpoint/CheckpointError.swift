import Foundation

/// Everything that can go wrong reading or writing a checkpoint.
///
/// The safetensors cases follow the reference implementation's `SafeTensorError` (huggingface/safetensors,
/// `safetensors/src/tensor.rs`) one to one, so a failure can be compared with what Python would say. Every
/// message names the file, the tensor key where there is one, and the offending value.
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
    case tensorInvalidInfo(path: String, key: String, dataOffsets: [UInt64], shape: [Int], dtype: String,
                           expectedBytes: Int)
    /// The tensors do not cover the data section exactly: bytes are missing or trail after the last tensor
    /// (reference: MetadataIncompleteBuffer).
    case metadataIncompleteBuffer(path: String, dataEnd: UInt64, dataLength: Int)
    /// No tensor of that name (reference: TensorNotFound).
    case tensorNotFound(path: String, key: String)
    /// A valid safetensors dtype that this package cannot represent as a `Tensor` (F64, I8, F8_*, …).
    case unsupportedDType(path: String, key: String, dtype: String)
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// The path exists but is not a regular file (a directory, a FIFO, …).
    case notARegularFile(path: String)

    // MARK: sharded checkpoints (model.safetensors.index.json)

    /// The index file is not JSON of the form {"metadata": {...}, "weight_map": {key: shard}}.
    case invalidIndex(path: String, offset: Int, reason: String)
    /// The index maps `key` to a shard file that does not exist (or whose name is not a plain file name).
    case missingShard(indexPath: String, key: String, shard: String)
    /// The index says `key` lives in `shardPath`, but that shard has no such tensor.
    case shardMissingTensor(indexPath: String, shardPath: String, key: String)
    /// A folder with neither `model.safetensors` nor `model.safetensors.index.json`.
    case noCheckpoint(directory: String)

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
            let detail = UInt64(length) > end
                ? "\(UInt64(length) - end) trailing bytes" : "\(end - UInt64(length)) bytes missing"
            return "\(path): tensors cover \(end) bytes of data but the file holds \(length) after the header "
                + "(\(detail))"
        case let .tensorNotFound(path, key):
            return "\(path): no tensor '\(key)'"
        case let .unsupportedDType(path, key, dtype):
            return "\(path): tensor '\(key)': unsupported dtype \(dtype) "
                + "(supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case let .io(path, operation, code):
            return "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .notARegularFile(path):
            return "\(path): not a regular file"
        case let .invalidIndex(path, offset, reason):
            return "\(path): invalid checkpoint index at byte \(offset): \(reason)"
        case let .missingShard(indexPath, key, shard):
            return "\(indexPath): tensor '\(key)' is mapped to shard '\(shard)', which does not exist"
        case let .shardMissingTensor(indexPath, shardPath, key):
            return "\(shardPath): no tensor '\(key)', although \(indexPath) maps it to this shard"
        case let .noCheckpoint(directory):
            return "\(directory): neither model.safetensors nor model.safetensors.index.json found"
        case let .invalidWrite(path, reason):
            return "\(path): cannot write safetensors: \(reason)"
        }
    }
}

/// "[2, 3]" — shapes and offsets printed the way the messages quote them.
private func list<T>(_ values: [T]) -> String {
    "[" + values.map { "\($0)" }.joined(separator: ", ") + "]"
}
