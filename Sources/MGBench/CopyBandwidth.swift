import Foundation
import MGTensor

/// The memory-bandwidth bound of decoding: how fast this machine copies a large buffer with all its cores.
public enum CopyBandwidth {
    /// Bytes per second read by a memcpy of a 1 GiB buffer split over the cores, as the decode kernels split their
    /// rows (best of 5). The destination is checked afterwards so the copies cannot be optimised away.
    public static func measure() -> Double {
        let n = 1 << 30
        let a = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        defer { a.deallocate(); b.deallocate() }
        memset(a, 1, n)
        memset(b, 2, n)
        let threads = max(1, Parallel.threadCount)
        var checksum = 0
        let t = BenchTiming.interleaved(repeats: 5) {
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                let start = n / threads * i, end = i == threads - 1 ? n : n / threads * (i + 1)
                memcpy(b + start, a + start, end - start)
            }
            checksum &+= Int(b.load(fromByteOffset: n - 1, as: UInt8.self))
        }
        precondition(checksum > 0, "copy bandwidth: the copy did not happen")
        return Double(n) / t
    }
}
