import Foundation
import MGJSON

// The safetensors layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// ({"__metadata__": {string: string}, key: {"dtype", "shape", "data_offsets"}, …}), then the data section, which
// the tensors must cover exactly. Parsing and validation follow the reference (`SafeTensors::read_metadata` and
// `Metadata::validate` in huggingface/safetensors) rule for rule and in the same order, so a file is accepted
// here exactly when Python's `safetensors` accepts it — except that duplicate JSON keys are refused (serde keeps
// the last one silently) and dimensions must fit in `Int` (a Swift shape is `[Int]`).

/// Every dtype the safetensors format defines (reference: `Dtype`). Only those with a `tensorDType` can be
/// read into a `Tensor`; the others are still recognised so that a file holding them parses.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    /// Bits per element (4 and 6 for the packed micro-float formats).
    public var bitSize: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .C64, .F64, .I64, .U64: return 64
        }
    }

    /// The `Tensor` element type, or nil when this package has none.
    public var tensorDType: DType? { DType(rawValue: rawValue) }

    /// The safetensors dtype of a `Tensor` element type; nil for ggml's block-quantized types.
    public init?(_ dtype: DType) {
        switch dtype {
        case .float32: self = .F32
        case .float16: self = .F16
        case .bfloat16: self = .BF16
        case .int64: self = .I64
        case .int32: self = .I32
        case .uint8: self = .U8
        case .bool: self = .BOOL
        case .q8_0, .q5_0, .q4_K, .q6_K: return nil
        }
    }
}

/// Where one tensor lives in a safetensors file.
public struct SafeTensorsTensorInfo: Equatable, Sendable {
    public let key: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// The header's data_offsets: relative to the start of the data section.
    public let dataOffsets: Range<Int>
    /// The same bytes, as offsets from the start of the file.
    public let fileRange: Range<Int>

    public var byteCount: Int { dataOffsets.count }
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed and validated header.
struct SafeTensorsHeader {
    static let maxHeaderLength: UInt64 = 100_000_000

    let tensors: [String: SafeTensorsTensorInfo]
    let metadata: [String: String]
    /// File offset of the data section (8 + N).
    let dataStart: Int

    /// One header entry as written, before validation (offsets and dims may be anything up to UInt64.max).
    private struct RawEntry {
        let key: String
        let dtype: SafeTensorsDType
        let shape: [UInt64]
        let begin: UInt64
        let end: UInt64
    }

    /// Parses and validates the header of a whole safetensors file held in `file`. `path` names the file in errors.
    init(file: UnsafeRawBufferPointer, path: String) throws {
        // Steps and error order as in the reference's `read_metadata`.
        guard file.count >= 8 else { throw CheckpointError.headerTooSmall(path: path, fileSize: file.count) }
        let n = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard n <= Self.maxHeaderLength else { throw CheckpointError.headerTooLarge(path: path, headerLength: n) }
        let stop = 8 + Int(n)  // cannot overflow: n ≤ 1e8
        guard stop <= file.count else {
            throw CheckpointError.invalidHeaderLength(path: path, headerLength: n, fileSize: file.count)
        }
        let json = UnsafeRawBufferPointer(rebasing: file[8..<stop])
        if let bad = UTF8Text.firstInvalidOffset(in: json) {
            throw CheckpointError.invalidHeaderUTF8(path: path, offset: bad)
        }

        let entries: [RawEntry]
        let metadata: [String: String]
        do {
            (entries, metadata) = try Self.parseJSON(json)
        } catch let error as JSONParseError {
            throw CheckpointError.invalidHeaderJSON(path: path, offset: error.offset, reason: error.message)
        }

        let (validated, dataEnd) = try Self.validate(entries, path: path)
        // The tensors must end exactly at the end of the file: no missing and no trailing bytes.
        let dataLength = file.count - stop
        guard dataEnd == UInt64(dataLength) else {
            throw CheckpointError.metadataIncompleteBuffer(path: path, dataEnd: dataEnd, dataLength: dataLength)
        }
        // Every offset is now within the file, so the conversions to Int below cannot trap.
        var tensors: [String: SafeTensorsTensorInfo] = [:]
        tensors.reserveCapacity(validated.count)
        for (entry, shape) in validated {
            let begin = Int(entry.begin), end = Int(entry.end)
            tensors[entry.key] = SafeTensorsTensorInfo(
                key: entry.key, dtype: entry.dtype, shape: shape,
                dataOffsets: begin..<end, fileRange: (stop + begin)..<(stop + end))
        }
        self.tensors = tensors
        self.metadata = metadata
        self.dataStart = stop
    }

    // MARK: - JSON structure (reference: HashMetadata / TensorInfo, deserialized by serde_json)

    private static func parseJSON(_ json: UnsafeRawBufferPointer) throws -> ([RawEntry], [String: String]) {
        var reader = JSONReader(json)
        var entries: [RawEntry] = []
        var metadata: [String: String] = [:]
        try reader.readObject("the header") { reader, key in
            if key == "__metadata__" {
                // Option<HashMap<String, String>>: null means absent.
                if try reader.consumeNull() { return }
                try reader.readObject("__metadata__") { reader, name in
                    metadata[name] = try reader.readString("__metadata__ value '\(name)'")
                }
            } else {
                entries.append(try readEntry(&reader, key: key))
            }
        }
        try reader.expectEnd()
        return (entries, metadata)
    }

    private static func readEntry(_ reader: inout JSONReader, key: String) throws -> RawEntry {
        var dtype: SafeTensorsDType?
        var shape: [UInt64]?
        var offsets: [UInt64]?
        let start = reader.position
        try reader.readObject("tensor '\(key)'") { reader, field in
            switch field {
            case "dtype":
                let nameOffset = reader.position
                let name = try reader.readString("tensor '\(key)': dtype")
                guard let known = SafeTensorsDType(rawValue: name) else {
                    throw reader.error("tensor '\(key)': unknown dtype '\(name)'", at: nameOffset)
                }
                dtype = known
            case "shape":
                var dims: [UInt64] = []
                try reader.readArray("tensor '\(key)': shape") { reader, _ in
                    dims.append(try reader.readUInt64("tensor '\(key)': shape element"))
                }
                shape = dims
            case "data_offsets":
                var pair: [UInt64] = []
                let arrayOffset = reader.position
                try reader.readArray("tensor '\(key)': data_offsets") { reader, index in
                    guard index < 2 else {
                        throw reader.error(
                            "tensor '\(key)': data_offsets must have exactly 2 elements", at: arrayOffset)
                    }
                    pair.append(try reader.readUInt64("tensor '\(key)': data_offsets element"))
                }
                guard pair.count == 2 else {
                    throw reader.error(
                        "tensor '\(key)': data_offsets must have exactly 2 elements, found \(pair.count)",
                        at: arrayOffset)
                }
                offsets = pair
            default:
                // serde ignores fields it does not know; so do we (after checking their syntax).
                try reader.skipValue()
            }
        }
        func missing(_ field: String) -> JSONParseError {
            reader.error("tensor '\(key)': missing field '\(field)'", at: start)
        }
        guard let dtype else { throw missing("dtype") }
        guard let shape else { throw missing("shape") }
        guard let offsets else { throw missing("data_offsets") }
        return RawEntry(key: key, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    // MARK: - Validation (reference: Metadata::validate)

    /// Checks the entries in offset order; returns them with their shapes as `[Int]`, and where the data ends.
    private static func validate(
        _ entries: [RawEntry], path: String
    ) throws
        -> (entries: [(RawEntry, [Int])], dataEnd: UInt64)
    {
        // In offset order; ties (zero-size tensors may share an offset) broken by key so errors are deterministic.
        let sorted = entries.sorted { a, b in
            if a.begin != b.begin { return a.begin < b.begin }
            if a.end != b.end { return a.end < b.end }
            return a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var validated: [(RawEntry, [Int])] = []
        validated.reserveCapacity(sorted.count)
        var start: UInt64 = 0
        for entry in sorted {
            guard entry.begin == start, entry.end >= entry.begin else {
                throw CheckpointError.invalidOffset(
                    path: path, key: entry.key, dataOffsets: [entry.begin, entry.end],
                    expectedBegin: start)
            }
            start = entry.end
            let overflow = CheckpointError.validationOverflow(
                path: path, key: entry.key, shape: entry.shape,
                dtype: entry.dtype.rawValue)
            // Fold left to right in Int, as Tensor.elementCount does, so a shape accepted here can never trap there.
            var elements = 1
            var shape: [Int] = []
            shape.reserveCapacity(entry.shape.count)
            for dim in entry.shape {
                guard dim <= UInt64(Int.max) else { throw overflow }
                let (product, overflowed) = elements.multipliedReportingOverflow(by: Int(dim))
                if overflowed { throw overflow }
                elements = product
                shape.append(Int(dim))
            }
            let (bits, bitsOverflowed) = elements.multipliedReportingOverflow(by: entry.dtype.bitSize)
            if bitsOverflowed { throw overflow }
            guard bits % 8 == 0 else {
                throw CheckpointError.misalignedSlice(
                    path: path, key: entry.key, shape: shape,
                    dtype: entry.dtype.rawValue)
            }
            guard entry.end - entry.begin == UInt64(bits / 8) else {
                throw CheckpointError.tensorInvalidInfo(
                    path: path, key: entry.key, dataOffsets: [entry.begin, entry.end],
                    shape: shape, dtype: entry.dtype.rawValue, expectedBytes: bits / 8)
            }
            validated.append((entry, shape))
        }
        return (validated, start)
    }
}
