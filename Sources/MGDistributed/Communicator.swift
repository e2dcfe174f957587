import Foundation

/// The collectives data-parallel training needs, over a fixed group of `size` processes.
///
/// Every method is collective: all ranks must call the same methods in the same order with matching counts
/// (the bucketing in ``allReduceSum(buffers:bucketBytes:)`` relies on this, since each rank derives the same
/// buckets from the same buffer sizes). Calls must come from one thread at a time.
public protocol Communicator: AnyObject {
    /// This process's index in `0..<size`.
    var rank: Int { get }
    /// Number of processes in the group.
    var size: Int { get }

    /// Replaces `buffer` on every rank with the element-wise sum over ranks.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `values` on every rank with the element-wise sum over ranks (losses, token counts, timings).
    func allReduceSum(_ values: inout [Double]) throws
    /// Replaces `values` on every rank with the element-wise maximum over ranks (e.g. "any rank saw a non-finite
    /// gradient" as 0/1 flags, or the slowest step time).
    func allReduceMax(_ values: inout [Double]) throws
    /// Sums `input` (count `size × output.count`) over ranks and leaves chunk `rank` of the sum in `output`.
    /// `input` and `output` must not overlap.
    func reduceScatterSum(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws
    /// Concatenates every rank's `input` in rank order into `output` (count `size × input.count`).
    /// `input` and `output` must not overlap.
    func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws
    /// Replaces `data` on every rank with `root`'s bytes; lengths may differ beforehand (the length is sent first).
    func broadcast(_ data: inout Data, root: Int) throws
    /// Returns once every rank has entered the barrier.
    func barrier() throws
    /// Terminates every process in the group with `code` (use when one rank hits an unrecoverable error, so the
    /// others do not wait forever inside a collective).
    func abort(code: Int32) -> Never
}

extension Communicator {
    /// Throws unless `input.count == size × output.count`.
    func checkScatterCounts(input: Int, output: Int, call: String) throws {
        guard input == size * output else {
            throw DistributedError.invalidArgument(
                "\(call): expected \(size) × \(output) = \(size * output) elements, got \(input)")
        }
    }

    /// Array convenience for ``reduceScatterSum(_:into:)``: returns this rank's chunk of the sum.
    public func reduceScatterSum(_ input: [Float]) throws -> [Float] {
        guard input.count % size == 0 else {
            throw DistributedError.invalidArgument(
                "reduceScatterSum: \(input.count) elements do not split into \(size) equal chunks")
        }
        var output = [Float](repeating: 0, count: input.count / size)
        try input.withUnsafeBufferPointer { src in
            try output.withUnsafeMutableBufferPointer { try reduceScatterSum(src, into: $0) }
        }
        return output
    }

    /// Array convenience for ``allGather(_:into:)``: returns every rank's `input`, concatenated in rank order.
    public func allGather(_ input: [Float]) throws -> [Float] {
        var output = [Float](repeating: 0, count: input.count * size)
        try input.withUnsafeBufferPointer { src in
            try output.withUnsafeMutableBufferPointer { try allGather(src, into: $0) }
        }
        return output
    }

    /// Array convenience for the buffer form of `allReduceSum(_:)`.
    public func allReduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }
}
