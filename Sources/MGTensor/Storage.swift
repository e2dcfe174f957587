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

    /// Uninitialised storage for `count` elements.
    public init(uninitializedCount count: Int, dtype: DType) {
        precondition(count >= 0, "Storage: negative element count \(count)")
        let bytes = max(count * dtype.size, 1)
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.byteCount = count * dtype.size
        self.dtype = dtype
        self.owner = nil
    }

    /// Zero-filled storage for `count` elements.
    public convenience init(zeroedCount count: Int, dtype: DType) {
        self.init(uninitializedCount: count, dtype: dtype)
        if byteCount > 0 { memset(pointer, 0, byteCount) }
    }

    /// Borrowed storage: `pointer` stays valid as long as `owner` lives. No copy is made.
    public init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int, dtype: DType, owner: AnyObject) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.dtype = dtype
        self.owner = owner
    }

    deinit {
        if owner == nil { pointer.deallocate() }
    }

    public var count: Int { byteCount / dtype.size }

    @inlinable public var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .float32, "Storage.floats on a \(dtype.rawValue) storage")
        return pointer.assumingMemoryBound(to: Float.self)
    }
}
