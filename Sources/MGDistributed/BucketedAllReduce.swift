/// Gradient bucketing: one all-reduce per few megabytes instead of one per parameter tensor.
///
/// A model has hundreds of small tensors (norm scales, biases); all-reducing each costs a full network round trip
/// of latency. Packing consecutive buffers into a staging bucket amortizes that latency, while the bucket bound
/// keeps the extra memory small. Written once here on top of the single-buffer `allReduceSum(_:)`, so every
/// communicator (and test doubles) buckets identically.
extension Communicator {
    /// All-reduces (sums) every buffer in `buffers`, grouping consecutive buffers into contiguous buckets.
    ///
    /// Buffers are taken in order and packed into a staging bucket of at most `bucketBytes` bytes; when the next
    /// buffer would not fit, the bucket is reduced and unpacked. A buffer larger than the bucket is reduced alone,
    /// in place, with no copy. Empty buffers are skipped. The buffers must not overlap one another. Every rank
    /// must pass buffers of the same sizes in the same order and the same `bucketBytes`, so all ranks form the
    /// same buckets.
    /// - Throws: ``DistributedError/invalidArgument(_:)`` if `bucketBytes` cannot hold one `Float`, or whatever
    ///   the underlying all-reduce throws.
    public func allReduceSum(buffers: [UnsafeMutableBufferPointer<Float>], bucketBytes: Int) throws {
        let capacity = bucketBytes / MemoryLayout<Float>.stride
        guard capacity >= 1 else {
            throw DistributedError.invalidArgument("bucketBytes \(bucketBytes) cannot hold one Float")
        }
        // Only buffers that fit a bucket are staged, so the staging area never needs more than their total.
        let stagedTotal = buffers.reduce(0) { $0 + ($1.count <= capacity ? $1.count : 0) }
        let staging = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, min(capacity, stagedTotal)))
        defer { staging.deallocate() }

        var pending: [UnsafeMutableBufferPointer<Float>] = []
        var filled = 0
        func flush() throws {
            guard filled > 0 else { return }
            try allReduceSum(UnsafeMutableBufferPointer(rebasing: staging[0..<filled]))
            var offset = 0
            for buffer in pending {
                _ = buffer.update(fromContentsOf: staging[offset..<offset + buffer.count])
                offset += buffer.count
            }
            pending.removeAll(keepingCapacity: true)
            filled = 0
        }

        for buffer in buffers where buffer.count > 0 {
            if buffer.count > capacity {
                try flush()  // keep reductions in buffer order, which makes traces easier to read
                try allReduceSum(buffer)
                continue
            }
            if filled + buffer.count > capacity { try flush() }
            _ = UnsafeMutableBufferPointer(rebasing: staging[filled..<filled + buffer.count])
                .update(fromContentsOf: buffer)
            pending.append(buffer)
            filled += buffer.count
        }
        try flush()
    }
}
