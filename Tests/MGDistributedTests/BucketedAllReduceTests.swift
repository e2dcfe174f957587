import Foundation
import MGDistributed
import XCTest

/// Pretends to be one of two ranks holding identical data, so a sum doubles every element; records each call so
/// the bucket layout can be checked.
private final class DoublingCommunicator: Communicator {
    let rank = 0
    let size = 2
    var calls: [(base: UnsafeMutablePointer<Float>?, count: Int)] = []

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        calls.append((buffer.baseAddress, buffer.count))
        for i in buffer.indices { buffer[i] *= 2 }
    }
    func allReduceSum(_ values: inout [Double]) throws {}
    func allReduceMax(_ values: inout [Double]) throws {}
    func reduceScatterSum(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {}
    func allGather(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {}
    func broadcast(_ data: inout Data, root: Int) throws {}
    func barrier() throws {}
    func abort(code: Int32) -> Never { exit(code) }
}

final class BucketedAllReduceTests: XCTestCase {
    func testEveryElementIsReducedExactlyOnceWithBoundedBuckets() throws {
        let comm = DoublingCommunicator()
        let capacity = 16
        // Odd sizes; 17, 40 and 100 exceed the bucket, 16 fills it exactly, 0 is skipped.
        let sizes = [3, 5, 7, 17, 1, 16, 0, 9, 8, 40, 2, 2, 100, 11]
        var storage = sizes.enumerated().map { i, n in (0..<n).map { Float(i * 1000 + $0) } }
        let expected = storage.map { $0.map { $0 * 2 } }
        var bases: [UnsafeMutablePointer<Float>?] = []
        try withBuffers(&storage) { buffers in
            bases = buffers.map(\.baseAddress)
            try comm.allReduceSum(buffers: buffers, bucketBytes: capacity * MemoryLayout<Float>.stride + 3)
        }
        XCTAssertEqual(storage, expected, "each element summed once (doubled), none twice, none missed")

        // Greedy packing in order: [3,5,7] [17 alone] [1] [16] [9] [8] ... — check the sequence of call sizes.
        XCTAssertEqual(comm.calls.map(\.count), [15, 17, 1, 16, 9, 8, 40, 4, 100, 11])
        XCTAssertTrue(comm.calls.allSatisfy { $0.count <= capacity || sizes.contains($0.count) })
        for large in [3, 9, 12] {
            XCTAssertTrue(
                comm.calls.contains { $0.base == bases[large] && $0.count == sizes[large] },
                "buffer \(large) (\(sizes[large]) elements) is larger than the bucket: reduced in place")
        }
    }

    func testAllBuffersSmallUsesFewCalls() throws {
        let comm = DoublingCommunicator()
        var storage: [[Float]] = (0..<50).map { i in [Float](repeating: Float(i), count: (i % 5) + 1) }
        let expected = storage.map { $0.map { $0 * 2 } }
        try withBuffers(&storage) { try comm.allReduceSum(buffers: $0, bucketBytes: 1 << 20) }
        XCTAssertEqual(storage, expected)
        XCTAssertEqual(comm.calls.count, 1, "150 floats fit one 1 MiB bucket")
        XCTAssertEqual(comm.calls.first?.count, 150)
    }

    func testNoBuffersAndTinyBucket() throws {
        let comm = DoublingCommunicator()
        try comm.allReduceSum(buffers: [], bucketBytes: 64)
        XCTAssertTrue(comm.calls.isEmpty)
        XCTAssertThrowsError(try comm.allReduceSum(buffers: [], bucketBytes: 3)) { error in
            guard case DistributedError.invalidArgument = error else { return XCTFail("unexpected \(error)") }
        }
    }

    func testOneFloatBucketReducesEachElementSeparately() throws {
        let comm = DoublingCommunicator()
        var storage: [[Float]] = [[1], [2, 3], [4]]
        try withBuffers(&storage) { try comm.allReduceSum(buffers: $0, bucketBytes: 4) }
        XCTAssertEqual(storage, [[2], [4, 6], [8]])
        XCTAssertEqual(comm.calls.map(\.count), [1, 2, 1])
    }
}
