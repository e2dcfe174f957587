import Foundation
import MGDistributed
import XCTest

final class SingleProcessCommunicatorTests: XCTestCase {
    func testIsAGroupOfOne() {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual(comm.rank, 0)
        XCTAssertEqual(comm.size, 1)
    }

    func testReductionsAreIdentities() throws {
        let comm = SingleProcessCommunicator()
        var floats: [Float] = [1, -2.5, 3]
        try comm.allReduceSum(&floats)
        XCTAssertEqual(floats, [1, -2.5, 3])
        var doubles: [Double] = [0.5, 7]
        try comm.allReduceSum(&doubles)
        XCTAssertEqual(doubles, [0.5, 7])
        try comm.allReduceMax(&doubles)
        XCTAssertEqual(doubles, [0.5, 7])
        var empty: [Float] = []
        try comm.allReduceSum(&empty)
        XCTAssertEqual(empty, [])
    }

    func testReduceScatterAndAllGatherCopyTheWholeBuffer() throws {
        let comm = SingleProcessCommunicator()
        XCTAssertEqual(try comm.reduceScatterSum([1, 2, 3]), [1, 2, 3], "with one rank, chunk 0 is everything")
        XCTAssertEqual(try comm.allGather([4, 5]), [4, 5])
        XCTAssertEqual(try comm.allGather([]), [])
    }

    func testMismatchedCountsAreRejected() {
        let comm = SingleProcessCommunicator()
        let input = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        let output = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2)
        defer { input.deallocate(); output.deallocate() }
        input.initialize(repeating: 1)
        XCTAssertThrowsError(try comm.reduceScatterSum(UnsafeBufferPointer(input), into: output)) { error in
            guard case DistributedError.invalidArgument(let message) = error else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(message.contains("reduceScatterSum"), message)
        }
        XCTAssertThrowsError(try comm.allGather(UnsafeBufferPointer(input), into: output))
    }

    func testBroadcastKeepsDataAndChecksRoot() throws {
        let comm = SingleProcessCommunicator()
        var data = Data([1, 2, 3])
        try comm.broadcast(&data, root: 0)
        XCTAssertEqual(data, Data([1, 2, 3]))
        XCTAssertThrowsError(try comm.broadcast(&data, root: 1))
        try comm.barrier()
    }

    func testBucketedAllReduceLeavesValuesUnchanged() throws {
        let comm = SingleProcessCommunicator()
        let sizes = [1, 7, 0, 13, 2, 64, 5, 3, 100, 9]
        var storage = sizes.enumerated().map { i, n in (0..<n).map { Float(i * 1000 + $0) } }
        let expected = storage
        try withBuffers(&storage) { try comm.allReduceSum(buffers: $0, bucketBytes: 16 * MemoryLayout<Float>.stride) }
        XCTAssertEqual(storage, expected)
    }
}

/// Runs `body` with mutable buffer pointers into each array of `arrays` (valid only during `body`).
func withBuffers<R>(_ arrays: inout [[Float]], _ body: ([UnsafeMutableBufferPointer<Float>]) throws -> R) rethrows -> R
{
    // Copy into separately allocated buffers so the pointers stay valid for the whole call, then copy back.
    let buffers = arrays.map { array -> UnsafeMutableBufferPointer<Float> in
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: array.count)
        _ = buffer.initialize(from: array)
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    let result = try body(buffers)
    arrays = buffers.map { Array($0) }
    return result
}
