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
    /// Whether this storage owns its memory (borrowed memory, such as a mapped checkpoint, may be read-only).
    public var ownsMemory: Bool { owner == nil }
    /// Owned memory that came from an anonymous mmap (large storages) rather than the allocator.
    private let mappedByteCount: Int

    /// Uninitialised storage for `count` elements. Large ones come from an anonymous mmap like zeroed ones (see
    /// `mmapThreshold`).
    public init(uninitializedCount count: Int, dtype: DType) {
        precondition(count >= 0, "Storage: negative element count \(count)")
        precondition(
            count % dtype.blockSize == 0, "Storage: \(count) values are not whole \(dtype.rawValue) blocks")
        self.byteCount = dtype.byteCount(for: count)
        self.dtype = dtype
        self.owner = nil
        (pointer, mappedByteCount, _) = Storage.allocate(byteCount)
    }

    /// Zero-filled storage for `count` elements. Large ones come from an anonymous mmap, whose pages the kernel
    /// zero-fills on first touch: a model built at full size before its weights are loaded costs no memory for
    /// the parts never written.
    public init(zeroedCount count: Int, dtype: DType) {
        precondition(count >= 0, "Storage: negative element count \(count)")
        precondition(
            count % dtype.blockSize == 0, "Storage: \(count) values are not whole \(dtype.rawValue) blocks")
        self.byteCount = dtype.byteCount(for: count)
        self.dtype = dtype
        self.owner = nil
        let fresh: Bool
        (pointer, mappedByteCount, fresh) = Storage.allocate(byteCount)
        if !fresh && byteCount > 0 { memset(pointer, 0, byteCount) }
    }

    /// `bytes` of owned memory, 64-byte aligned: from `mmapThreshold` up an anonymous mapping of the size class
    /// (`MappedRegionPool`), reused from the pool or fresh (zero-filled), else the allocator's (size 0). `fresh`:
    /// the memory is known to be zeros.
    private static func allocate(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, mapped: Int, fresh: Bool) {
        if bytes >= mmapThreshold {
            let size = MappedRegionPool.sizeClass(bytes)
            if let region = MappedRegionPool.take(size) { return (region, size, false) }
            if let region = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                region != MAP_FAILED
            {
                return (region, size, true)
            }
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64), 0, false)
    }

    /// Storages at least this large are mapped rather than allocated (and cleared): the kernel zero-fills their
    /// pages on first touch and munmap returns them at once. From the allocator, glibc's heap kept freed blocks of
    /// this size (its mmap threshold rises to 32 MiB once such a block is freed) and fragmented: a Vicuna-7B-shaped
    /// LoRA step on 4 layers peaked at 7.27 GiB that way, 5.20 GiB mapped, and the 32-layer step ran out of
    /// 24 GiB.
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
            MappedRegionPool.give(pointer, mappedByteCount)
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
