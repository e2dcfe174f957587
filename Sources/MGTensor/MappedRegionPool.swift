import Foundation

/// Freed anonymous mappings of large storages, kept for the next storage of the same size class instead of being
/// returned to the kernel.
///
/// A training step allocates the same large temporaries every step (activations, their gradients, attention
/// scores). Mapping each afresh costs a page fault and a kernel page clear per 4 KiB on first touch and a TLB
/// shoot-down at munmap: 12 % of the tiny stack's SFT step samples in `perf`. Reused regions skip all three (an
/// uninitialised storage takes one as it is; a zeroed one clears it, cache-warm). Sizes are rounded up to one of
/// four classes per power of two, so sequence lengths that differ a little still share regions, and the pool holds
/// at most `capacity` bytes, evicting the largest classes first, so that it cannot grow the way glibc's heap did.
enum MappedRegionPool {
    /// Bytes the pool may hold: 1/32 of physical memory, at most 1 GiB.
    static let capacity = min(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 32))

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var held = 0

    /// The mapping size for a request of `bytes`: page-rounded, then up to the next of four classes per power of two
    /// (at most 25 % over).
    static func sizeClass(_ bytes: Int) -> Int {
        let page = 4096
        let pages = (bytes + page - 1) / page
        if pages <= 4 { return pages * page }
        let top = Int.bitWidth - 1 - pages.leadingZeroBitCount  // 2^top ≤ pages < 2^(top+1)
        let step = 1 << (top - 2)
        return (pages + step - 1) / step * step * page
    }

    /// A region of exactly `size` bytes (a `sizeClass` value) from the pool, or nil.
    static func take(_ size: Int) -> UnsafeMutableRawPointer? {
        lock.lock()
        defer { lock.unlock() }
        guard let region = free[size]?.popLast() else { return nil }
        held -= size
        return region
    }

    /// Keeps `region` (`size` bytes) for reuse, evicting other classes if needed; unmaps it when it cannot fit.
    static func give(_ region: UnsafeMutableRawPointer, _ size: Int) {
        var evicted: [(UnsafeMutableRawPointer, Int)] = []
        lock.lock()
        if size > capacity {
            evicted.append((region, size))
        } else {
            while held + size > capacity, let largest = free.keys.filter({ !(free[$0]?.isEmpty ?? true) }).max(),
                let victim = free[largest]?.popLast()
            {
                held -= largest
                evicted.append((victim, largest))
            }
            free[size, default: []].append(region)
            held += size
        }
        lock.unlock()
        for (p, n) in evicted { munmap(p, n) }
    }

    /// Bytes held now (tests).
    static var heldBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return held
    }

    /// Unmaps everything held (tests, or a caller that wants the memory back now).
    static func drain() {
        lock.lock()
        let all = free.flatMap { size, regions in regions.map { ($0, size) } }
        free = [:]
        held = 0
        lock.unlock()
        for (p, n) in all { munmap(p, n) }
    }
}
