import Foundation

/// The communicator of an ordinary (non-`mpirun`) process: a group of one, where every collective is the
/// identity. Lets training code call collectives unconditionally.
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let size = 1

    public init() {}

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ values: inout [Double]) throws {}
    public func allReduceMax(_ values: inout [Double]) throws {}

    public func reduceScatterSum(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        try checkScatterCounts(input: input.count, output: output.count, call: "reduceScatterSum")
        copy(input, into: output)
    }

    public func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {
        try checkScatterCounts(input: output.count, output: input.count, call: "allGather")
        copy(input, into: output)
    }

    public func broadcast(_ data: inout Data, root: Int) throws {
        guard root == 0 else { throw DistributedError.invalidArgument("broadcast root \(root) not in 0..<1") }
    }

    public func barrier() throws {}

    public func abort(code: Int32) -> Never { exit(code) }

    private func copy(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        guard let src = input.baseAddress, let dst = output.baseAddress else { return }
        dst.update(from: src, count: input.count)
    }
}
