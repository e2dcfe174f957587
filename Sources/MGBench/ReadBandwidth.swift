import CKernels
import Foundation
import MGTensor

/// The bandwidth decoding is bounded by: a streaming read (a sum with several vector accumulators per thread) of a
/// 1 GiB float32 buffer split over the cores, as the decode kernels split the weight rows (best of 5). Decoding
/// only reads its weights; a copy also writes (and write-allocates), so a memcpy rate understates this bound by
/// about 1.5×.
public enum ReadBandwidth {
    /// Bytes per second read (the sums are kept, so the reads cannot be optimised away).
    public static func measure(bytes: Int = 1 << 30, repeats: Int = 5) -> Double {
        let n = bytes / 4
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate() }
        a.initialize(repeating: 1, count: n)
        let threads = max(1, Parallel.threadCount)
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        defer { sums.deallocate() }
        var total = 0.0
        let t = BenchTiming.interleaved(repeats: repeats) {
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                let start = n / threads * i, end = i == threads - 1 ? n : n / threads * (i + 1)
                sums[i] = mg_read_sum_f32(a + start, end - start)
            }
            total += (0..<threads).reduce(0) { $0 + sums[$1] }
        }
        // Every value is 1: a zero total would mean the reads did not happen.
        return total > 0 ? Double(n * 4) / t : 0
    }
}
