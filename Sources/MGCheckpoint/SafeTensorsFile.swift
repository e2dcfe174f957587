import Foundation

/// A safetensors file, memory-mapped and validated on open; tensors are materialised lazily, one at a time.
///
/// A tensor whose data is aligned to its element size borrows the mapping (no copy): its `Storage` keeps this
/// object, and so the mapping, alive. The mapping is read-only (PROT_READ, MAP_PRIVATE), so such tensors must not
/// be written in place — ask for `tensor(_:copy: true)` for weights that an optimizer will update.
/// Misaligned data (possible in files from other writers) is copied.
///
/// The mapping assumes the file is not truncated while open (that would fault on access); the atomic
/// `SafeTensorsWriter` replaces files by rename, which leaves an existing mapping intact.
///
/// Immutable after `init`, so one file may be read from several threads.
public final class SafeTensorsFile: @unchecked Sendable {
    /// The path as given (or the name given to an in-memory buffer); errors quote it.
    public let path: String
    /// Tensor keys, sorted.
    public let keys: [String]
    /// The header's `__metadata__` (empty when absent).
    public let metadata: [String: String]

    private let header: SafeTensorsHeader
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int
    /// True when `base` is an mmap region (munmap on deinit); false for a copied in-memory buffer (deallocate).
    private let isMapped: Bool

    /// Maps and validates the file at `url`.
    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        let (pointer, size) = try Self.map(path: path)
        do {
            header = try SafeTensorsHeader(file: UnsafeRawBufferPointer(start: pointer, count: size), path: path)
        } catch {
            munmap(pointer, size)
            throw error
        }
        self.path = path
        self.base = pointer
        self.byteCount = size
        self.isMapped = true
        self.metadata = header.metadata
        self.keys = Self.sortedKeys(header)
    }

    /// Validates a whole safetensors file held in memory (copied, so `bytes` need not outlive this object).
    /// Parsing and validation are the same as for a mapped file; `name` stands for the path in errors.
    public init<Bytes: ContiguousBytes>(bytes: Bytes, name: String = "<memory>") throws {
        // 64-byte alignment, like the page-aligned mapping, so the zero-copy rule behaves the same.
        let (pointer, size) = bytes.withUnsafeBytes { source -> (UnsafeMutableRawPointer, Int) in
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
            if let from = source.baseAddress, source.count > 0 {
                pointer.copyMemory(from: from, byteCount: source.count)
            }
            return (pointer, source.count)
        }
        do {
            header = try SafeTensorsHeader(file: UnsafeRawBufferPointer(start: pointer, count: size), path: name)
        } catch {
            pointer.deallocate()
            throw error
        }
        self.path = name
        self.base = pointer
        self.byteCount = size
        self.isMapped = false
        self.metadata = header.metadata
        self.keys = Self.sortedKeys(header)
    }

    deinit {
        if isMapped { munmap(base, byteCount) } else { base.deallocate() }
    }

    private static func sortedKeys(_ header: SafeTensorsHeader) -> [String] {
        header.tensors.keys.sorted()
    }

    /// Opens and maps a regular file read-only. Files under 8 bytes are rejected before mapping (mmap cannot map
    /// an empty file, and the reference reports HeaderTooSmall for them).
    private static func map(path: String) throws -> (UnsafeMutableRawPointer, Int) {
        try FileMapping.mapReadOnly(path: path, minimumSize: 8) {
            CheckpointError.headerTooSmall(path: path, fileSize: $0)
        }
    }

    // MARK: - Access

    public var count: Int { keys.count }

    public func contains(_ key: String) -> Bool { header.tensors[key] != nil }

    /// Dtype, shape and byte range of one tensor (unsupported dtypes included).
    public func info(for key: String) throws -> SafeTensorsTensorInfo {
        guard let info = header.tensors[key] else { throw CheckpointError.tensorNotFound(path: path, key: key) }
        return info
    }

    /// The tensor `key`. Borrows the file's memory when its data is aligned for its dtype and `copy` is false;
    /// otherwise the bytes are copied into owned storage.
    public func tensor(_ key: String, copy: Bool = false) throws -> Tensor {
        let info = try info(for: key)
        guard let dtype = info.dtype.tensorDType else {
            throw CheckpointError.unsupportedDType(
                path: path, key: key, dtype: info.dtype.rawValue,
                format: .safetensors)
        }
        let source = base + info.fileRange.lowerBound
        let storage: Storage
        if info.byteCount == 0 {
            storage = Storage(uninitializedCount: 0, dtype: dtype)
        } else if !copy && Int(bitPattern: source) % dtype.size == 0 {
            storage = Storage(borrowing: source, byteCount: info.byteCount, dtype: dtype, owner: self)
        } else {
            storage = Storage(uninitializedCount: info.byteCount / dtype.size, dtype: dtype)
            storage.pointer.copyMemory(from: source, byteCount: info.byteCount)
        }
        return Tensor(storage: storage, shape: info.shape)
    }

    /// Every tensor, keyed by name (zero-copy where aligned, as `tensor(_:)`).
    public func loadAll(copy: Bool = false) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        result.reserveCapacity(keys.count)
        for key in keys { result[key] = try tensor(key, copy: copy) }
        return result
    }

    /// Whether `tensor`'s memory lies inside this file's buffer (i.e. it was loaded without a copy).
    func holds(_ tensor: Tensor) -> Bool {
        let p = UnsafeRawPointer(tensor.storage.pointer)
        return p >= UnsafeRawPointer(base) && p < UnsafeRawPointer(base) + byteCount
    }
}
