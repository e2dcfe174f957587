import CKernels
import COpenBLAS
import Foundation

/// How our own element-wise and reduction kernels use the cores.
///
/// OpenBLAS runs its own threads inside BLAS calls; our kernels split work only outside them, and only above a
/// size where the split pays for itself, so the two never oversubscribe the machine.
public enum Parallel {
    /// Threads used by our kernels (defaults to the active processor count).
    nonisolated(unsafe) public static var threadCount: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Below this many elements of work a kernel runs on the calling thread.
    nonisolated(unsafe) public static var minimumParallelWork: Int = 1 << 15

    /// Runs `body` over `0..<count` split into contiguous chunks, in parallel when `count × costPerItem` is large.
    /// `chunksPerThread` > 1 makes smaller chunks that idle threads take in turn, so a core slowed by something
    /// else does not hold the others up (bandwidth-bound loops that are short: decoding's matrix–vector products).
    @inlinable
    public static func forEachChunk(
        _ count: Int, costPerItem: Int = 1, chunksPerThread: Int = 1, _ body: (Range<Int>) -> Void
    ) {
        let threads = threadCount
        if threads <= 1 || count < 2 || count * max(costPerItem, 1) < minimumParallelWork {
            if count > 0 { body(0..<count) }
            return
        }
        let chunks = min(threads * max(1, chunksPerThread), count)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = count * c / chunks
            let end = count * (c + 1) / chunks
            if start < end { body(start..<end) }
        }
    }

    /// Runs `body(i)` for i in 0..<count on our threads, each making single-threaded BLAS calls: for many small
    /// independent products (attention heads) this beats threaded BLAS per call, whose spinning workers would
    /// otherwise compete with our own threads for the cores.
    public static func forEachWithSerialBLAS(_ count: Int, _ body: (Int) -> Void) {
        let threads = threadCount
        if threads <= 1 || count < 2 {
            for i in 0..<count { body(i) }
            return
        }
        let previous = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(previous)) }
        let chunks = min(threads, count)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for i in (count * c / chunks)..<(count * (c + 1) / chunks) { body(i) }
        }
    }

    /// Whether the C kernels (GELU, depthwise convolution) run their AVX2 + FMA versions on this CPU.
    public static var usesAVX2Kernels: Bool { mg_kernels_use_avx2() != 0 }

    /// Sets the number of OpenBLAS threads (BLAS calls only).
    public static func setBLASThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }
}
