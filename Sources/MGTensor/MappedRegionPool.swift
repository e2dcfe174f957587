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
    /// Bytes the pool may hold (see `LargeAllocationPool.capacity`); lowering it unmaps what no longer fits.
    static var capacity: Int {
        get {
            lock.lock()
            defer { lock.unlock() }
            return limit
        }
        set {
            var evicted: [(UnsafeMutableRawPointer, Int)] = []
            lock.lock()
            limit = max(0, newValue)
            while held > limit, let largest = free.keys.filter({ !(free[$0]?.isEmpty ?? true) }).max(),
                let victim = free[largest]?.popLast()
            {
                held -= largest
                evicted.append((victim, largest))
            }
            lock.unlock()
            for (p, n) in evicted { munmap(p, n) }
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var limit = LargeAllocationPool.inferenceCapacity
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
        // Above the inference default, keep a region only while the machine has memory to spare: held regions are
        // resident, and a training run near the memory limit needs them returned, not kept.
        lock.lock()
        let beyondDefault = held + size > LargeAllocationPool.inferenceCapacity
        lock.unlock()
        let roomy = !beyondDefault || memoryToSpare()
        lock.lock()
        if size > limit || !roomy {
            evicted.append((region, size))
            // Short of memory: shrink to the default as well.
            while !roomy && held > LargeAllocationPool.inferenceCapacity,
                let largest = free.keys.filter({ !(free[$0]?.isEmpty ?? true) }).max(),
                let victim = free[largest]?.popLast()
            {
                held -= largest
                evicted.append((victim, largest))
            }
        } else {
            while held + size > limit, let largest = free.keys.filter({ !(free[$0]?.isEmpty ?? true) }).max(),
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

    /// Whether the system reports more available memory (`MemAvailable` of /proc/meminfo) than 1/8 of physical
    /// memory; true where it cannot be read.
    static func memoryToSpare() -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .ascii),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return true }
        return kib * 1024 > Int(ProcessInfo.processInfo.physicalMemory / 8)
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

/// The reuse pool of large tensor storages (anonymous mappings of 1 MiB and more): freed ones are kept, by size
/// class, up to `capacity` bytes, so that the next tensor of that size needs no fresh pages (a fresh mapping costs a
/// page fault and a page clear per 4 KiB, and its unmapping a TLB shoot-down).
public enum LargeAllocationPool {
    /// The default: 1/32 of physical memory, at most 1 GiB — enough for inference's repeated activations while
    /// keeping resident memory close to what is in use.
    public static let inferenceCapacity = min(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 32))
    /// What training sets (`Trainer`): 1/8 of physical memory. A training step frees and reallocates gigabytes of
    /// activations and gradients; on the Phi-3 stack step a 4 GB pool took the backward from 10.3–10.6 s to 8.1 s
    /// against the default's, for ~2 GB more peak resident memory.
    public static let trainingCapacity = Int(ProcessInfo.processInfo.physicalMemory / 8)

    /// Bytes the pool may hold now; lowering it unmaps what no longer fits.
    public static var capacity: Int {
        get { MappedRegionPool.capacity }
        set { MappedRegionPool.capacity = newValue }
    }
}
