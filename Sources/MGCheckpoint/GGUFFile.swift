import Foundation

/// One tensor of a GGUF file, as its description says.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml's dimensions, innermost first (`ne`): a matrix [out, in] is stored as ne = [in, out].
    public let dimensions: [Int]
    public let type: GGMLType
    /// Absolute offset of the data in the file.
    public let offset: Int
    public let byteCount: Int

    /// PyTorch's order (outermost first): the `Tensor` shape.
    public var shape: [Int] { dimensions.reversed() }
}

/// A GGUF file (versions 2 and 3), memory-mapped and validated as llama.cpp's `gguf_init_from_file` validates it:
/// magic and version, counts that fit the file, no duplicate keys or tensor names, names under 64 bytes, at most 4
/// dimensions, rows of whole blocks, offsets aligned to `general.alignment` and tiling the data section in order,
/// every tensor inside the file. Tensors borrow the mapping (no copy) unless asked to copy.
public final class GGUFFile: TensorSource, @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor descriptions in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// `general.alignment` (32 when absent).
    public let alignment: Int
    public let keys: [String]
    public var opaqueGlobals: [String] { [] }
    public var description: String { path }

    // Keyed by UTF-8 bytes: String keys would equate canonically equivalent names the file keeps apart.
    private let index: [[UInt8]: Int]
    private let metadataIndex: [[UInt8]: Int]
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        let (pointer, size) = try FileMapping.mapReadOnly(path: path, minimumSize: 4) {
            GGUFError.truncated(path: path, offset: $0, reading: "the magic")
        }
        do {
            var parser = GGUFParser(UnsafeRawBufferPointer(start: pointer, count: size), path: path)
            let parsed = try parser.parse()
            (version, metadata, tensorInfos, alignment) =
                (parsed.version, parsed.metadata, parsed.tensors, parsed.alignment)
        } catch {
            munmap(pointer, size)
            throw error
        }
        self.path = path
        self.base = pointer
        self.byteCount = size
        var index: [[UInt8]: Int] = [:]
        for (i, t) in tensorInfos.enumerated() { index[Array(t.name.utf8)] = i }
        self.index = index
        var metadataIndex: [[UInt8]: Int] = [:]
        for (i, m) in metadata.enumerated() { metadataIndex[Array(m.key.utf8)] = i }
        self.metadataIndex = metadataIndex
        self.keys = tensorInfos.map(\.name).sorted()
    }

    deinit { munmap(base, byteCount) }

    /// `count` bytes at file offset `offset` into `destination`, with pread (the mapping stays untouched).
    private func readBytes(at offset: Int, count: Int, into destination: UnsafeMutableRawPointer, tensor: String) throws
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var done = 0
        while done < count {
            let n = pread(fd, destination + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                if n == 0 {
                    throw GGUFError.truncated(path: path, offset: offset + done, reading: "the data of '\(tensor)'")
                }
                throw CheckpointError.io(path: path, operation: "pread", errno: errno)
            }
            done += n
        }
    }

    /// The metadata value of `key`.
    public subscript(key: String) -> GGUFValue? { metadataIndex[Array(key.utf8)].map { metadata[$0].value } }

    /// `general.architecture` ("llama", "phi3", …).
    public var architecture: String? { self["general.architecture"]?.text }

    /// The description of tensor `name`.
    public func tensorInfo(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[Array(name.utf8)] else { throw CheckpointError.tensorNotFound(path: path, key: name) }
        return tensorInfos[i]
    }

    public func info(for key: String) throws -> WeightInfo {
        let t = try tensorInfo(key)
        return WeightInfo(name: key, dtype: t.type.name, shape: t.shape, byteCount: t.byteCount)
    }

    /// The tensor `key` in its stored type (block-quantized types included), borrowing the mapping unless `copy`.
    public func tensor(_ key: String, copy: Bool) throws -> Tensor {
        let t = try tensorInfo(key)
        guard let dtype = t.type.dtype else {
            throw GGUFError.unsupportedTensorType(path: path, tensor: key, type: t.type.name)
        }
        let source = base + t.offset
        let storage: Storage
        if copy {
            // Read from the file rather than the mapping: the mapped pages are never touched, so the copy does
            // not count twice in the resident set (a 7B model's q/k projections are reordered this way on load).
            storage = Storage(uninitializedCount: t.dimensions.reduce(1, *), dtype: dtype)
            try readBytes(at: t.offset, count: t.byteCount, into: storage.pointer, tensor: key)
        } else {
            storage = Storage(borrowing: source, byteCount: t.byteCount, dtype: dtype, owner: self)
        }
        return Tensor(storage: storage, shape: t.shape)
    }
}

/// The parse of a GGUF file's header, metadata and tensor descriptions (bounds-checked at every read).
struct GGUFParser {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// Arrays nest at most this deep (llama.cpp writes one level).
    static let maximumNesting = 4

    struct Parsed {
        var version: UInt32
        var metadata: [(key: String, value: GGUFValue)]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
    }

    mutating func parse() throws -> Parsed {
        let magic = Array(bytes[0..<4])
        guard magic == Array("GGUF".utf8) else { throw GGUFError.notGGUF(path: path, magic: magic) }
        position = 4
        let version: UInt32 = try read("the version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        let tensorCount = try count(try read("the tensor count") as UInt64, minimumBytes: 24, what: "tensor count")
        let kvCount = try count(try read("the metadata count") as UInt64, minimumBytes: 12, what: "metadata count")
        var metadata: [(key: String, value: GGUFValue)] = []
        var seenKeys = Set<[UInt8]>()
        for i in 0..<kvCount {
            let keyBytes = try string("the key of metadata entry \(i)")
            guard let key = String(bytes: keyBytes, encoding: .utf8) else {
                throw GGUFError.invalidMetadata(
                    path: path, key: String(decoding: keyBytes, as: UTF8.self), reason: "the key is not UTF-8")
            }
            guard seenKeys.insert(keyBytes).inserted else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "the key appears twice")
            }
            let code: UInt32 = try read("the type of '\(key)'")
            let value = try self.value(code, key: key, depth: 0)
            metadata.append((key, value))
        }
        var alignment = 32
        if let entry = metadata.first(where: { $0.key == "general.alignment" }) {
            guard case let .uint32(a) = entry.value, a > 0, a & (a - 1) == 0 else {
                throw GGUFError.invalidMetadata(
                    path: path, key: "general.alignment",
                    reason: "must be a UINT32 power of two, got \(entry.value.summary) (\(entry.value.type))")
            }
            alignment = Int(a)
        }
        var described: [(name: String, dims: [Int], type: GGMLType, offset: UInt64, bytes: Int)] = []
        var seenNames = Set<[UInt8]>()
        for i in 0..<tensorCount {
            let nameBytes = try string("the name of tensor \(i)")
            guard let name = String(bytes: nameBytes, encoding: .utf8) else {
                throw GGUFError.invalidTensor(
                    path: path, tensor: String(decoding: nameBytes, as: UTF8.self), reason: "the name is not UTF-8")
            }
            guard nameBytes.count < 64 else {
                throw GGUFError.invalidTensor(
                    path: path, tensor: name, reason: "the name is \(nameBytes.count) bytes (ggml allows 63)")
            }
            guard seenNames.insert(nameBytes).inserted else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "the name appears twice")
            }
            let rank: UInt32 = try read("the rank of '\(name)'")
            guard rank >= 1 && rank <= 4 else {
                throw GGUFError.invalidTensor(
                    path: path, tensor: name, reason: "\(rank) dimensions (ggml allows 1 to 4)")
            }
            var dims: [Int] = []
            var elements = 1
            for d in 0..<Int(rank) {
                let n: UInt64 = try read("dimension \(d) of '\(name)'")
                guard let v = Int(exactly: n), v >= 0 else {
                    throw GGUFError.invalidTensor(path: path, tensor: name, reason: "dimension \(d) is \(n)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: v)
                guard !overflow else {
                    throw GGUFError.invalidTensor(path: path, tensor: name, reason: "the element count overflows")
                }
                elements = product
                dims.append(v)
            }
            let code: UInt32 = try read("the type of '\(name)'")
            guard let type = GGMLType(id: code) else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "unknown ggml type id \(code)")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw GGUFError.invalidTensor(
                    path: path, tensor: name,
                    reason: "rows of \(dims[0]) values are not whole \(type.name) blocks of \(type.blockSize)")
            }
            guard let bytes = type.byteCount(for: elements) else {
                throw GGUFError.invalidTensor(path: path, tensor: name, reason: "the byte size overflows")
            }
            let offset: UInt64 = try read("the offset of '\(name)'")
            described.append((name, dims, type, offset, bytes))
        }
        // The data section starts at the next multiple of the alignment; tensors follow in order, each padded.
        let dataStart = (position + alignment - 1) / alignment * alignment
        var expected: UInt64 = 0
        var tensors: [GGUFTensorInfo] = []
        for t in described {
            guard t.offset == expected else {
                throw GGUFError.invalidTensor(
                    path: path, tensor: t.name,
                    reason: "data offset \(t.offset) should be \(expected) (tensors tile the data section in order, "
                        + "each padded to \(alignment) bytes)")
            }
            guard let start = Int(exactly: t.offset).map({ dataStart + $0 }), start <= bytes.count,
                t.bytes <= bytes.count - start
            else {
                throw GGUFError.truncated(
                    path: path, offset: bytes.count,
                    reading: "the data of '\(t.name)' (\(t.bytes) bytes at \(dataStart) + \(t.offset))")
            }
            tensors.append(
                GGUFTensorInfo(name: t.name, dimensions: t.dims, type: t.type, offset: start, byteCount: t.bytes))
            expected = UInt64((Int(t.offset) + t.bytes + alignment - 1) / alignment * alignment)
        }
        return Parsed(version: version, metadata: metadata, tensors: tensors, alignment: alignment)
    }

    /// A count that cannot exceed what the rest of the file could hold at `minimumBytes` per item.
    private func count(_ n: UInt64, minimumBytes: Int, what: String) throws -> Int {
        let left = UInt64(bytes.count - position)
        guard n <= left / UInt64(minimumBytes) else {
            throw GGUFError.truncated(
                path: path, offset: bytes.count, reading: "\(n) items of the \(what) (the file is too short for them)")
        }
        return Int(n)
    }

    private mutating func read<T: FixedWidthInteger>(_ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard bytes.count - position >= size else {
            throw GGUFError.truncated(path: path, offset: bytes.count, reading: what())
        }
        let v = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += size
        return T(littleEndian: v)
    }

    private mutating func string(_ what: @autoclosure () -> String) throws -> [UInt8] {
        let length: UInt64 = try read(what())
        guard length <= UInt64(bytes.count - position) else {
            throw GGUFError.truncated(path: path, offset: bytes.count, reading: "\(what()) (\(length) bytes)")
        }
        let n = Int(length)
        let out = Array(bytes[position..<(position + n)])
        position += n
        return out
    }

    private mutating func value(_ code: UInt32, key: String, depth: Int) throws -> GGUFValue {
        guard let type = GGUFValueType(rawValue: code) else {
            throw GGUFError.invalidMetadata(path: path, key: key, reason: "unknown value type code \(code)")
        }
        let what = "the value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try read(what))
        case .int8: return .int8(try read(what))
        case .uint16: return .uint16(try read(what))
        case .int16: return .int16(try read(what))
        case .uint32: return .uint32(try read(what))
        case .int32: return .int32(try read(what))
        case .uint64: return .uint64(try read(what))
        case .int64: return .int64(try read(what))
        case .float32: return .float32(Float(bitPattern: try read(what)))
        case .float64: return .float64(Double(bitPattern: try read(what)))
        case .bool:
            let b: UInt8 = try read(what)
            guard b <= 1 else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "a BOOL holds \(b) (0 or 1 expected)")
            }
            return .bool(b == 1)
        case .string: return .string(try string(what))
        case .array:
            guard depth < GGUFParser.maximumNesting else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "arrays nested too deep")
            }
            let elementCode: UInt32 = try read("the element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: elementCode) else {
                throw GGUFError.invalidMetadata(
                    path: path, key: key, reason: "unknown element type code \(elementCode)")
            }
            let n = try count(
                try read("the length of '\(key)'") as UInt64, minimumBytes: elementType.fixedSize ?? 8,
                what: "array '\(key)'")
            var elements: [GGUFValue] = []
            elements.reserveCapacity(n)
            for _ in 0..<n { elements.append(try value(elementCode, key: key, depth: depth + 1)) }
            return .array(elementType, elements)
        }
    }
}
