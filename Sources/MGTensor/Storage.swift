import Foundation

/// A contiguous, reference-counted block of elements of one dtype.
///
/// Storage either owns its memory (allocated 64-byte aligned, freed on deinit) or borrows it from an owner that
/// keeps it alive — a memory-mapped checkpoint file, for example — so that weights can be used without a copy.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    public let dtype: DType
    /// Keeps borrowed memory alive (e.g. an mmap region); nil when this storage owns its allocation.
    private let owner: AnyObject?
    /// Owned memory that came from an anonymous mmap (large zeroed storages) rather than the allocator.
    private let mappedByteCount: Int

    /// Uninitialised storage for `count` elements.
    public init(uninitializedCount count: Int, dtype: DType) {
        precondition(count >= 0, "Storage: negative element count \(count)")
        precondition(
            count % dtype.blockSize == 0, "Storage: \(count) values are not whole \(dtype.rawValue) blocks")
        let bytes = max(dtype.byteCount(for: count), 1)
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.byteCount = dtype.byteCount(for: count)
        self.dtype = dtype
        self.owner = nil
        self.mappedByteCount = 0
    }

    /// Zero-filled storage for `count` elements. Large ones come from an anonymous mmap, whose pages the kernel
    /// zero-fills on first touch: a model built at full size before its weights are loaded costs no memory for
    /// the parts never written.
    public init(zeroedCount count: Int, dtype: DType) {
        precondition(count >= 0, "Storage: negative element count \(count)")
        precondition(
            count % dtype.blockSize == 0, "Storage: \(count) values are not whole \(dtype.rawValue) blocks")
        let bytes = dtype.byteCount(for: count)
        self.byteCount = bytes
        self.dtype = dtype
        self.owner = nil
        if bytes >= Storage.mmapThreshold,
            let region = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            region != MAP_FAILED
        {
            self.pointer = region
            self.mappedByteCount = bytes
        } else {
            self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
            self.mappedByteCount = 0
            if bytes > 0 { memset(pointer, 0, bytes) }
        }
    }

    /// Zeroed storages at least this large are mapped rather than allocated and cleared.
    static let mmapThreshold = 1 << 20

    /// Borrowed storage: `pointer` stays valid as long as `owner` lives. No copy is made.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, dtype: DType, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.dtype = dtype
        self.owner = owner
        self.mappedByteCount = 0
    }

    deinit {
        if mappedByteCount > 0 {
            munmap(pointer, mappedByteCount)
        } else if owner == nil {
            pointer.deallocate()
        }
    }

    public var count: Int { dtype.valueCount(bytes: byteCount) }

    @inlinable public var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "Storage.floats on a \(dtype.rawValue) storage")
        return pointer.assumingMemoryBound(to: Float.self)
    }
}
