import CKernels
import XCTest

@testable import MGTensor

/// CKernels' softmax pieces against MGTensor's own arithmetic: the exp pass is `fastExp` bit for bit (so attention
/// gives the same numbers whichever code path or CPU runs it), the maximum is exact.
final class SoftmaxKernelTests: XCTestCase {
    func testExpPassIsFastExpBitForBit() {
        var generator = Generator(seed: 7)
        var values = Tensor.rand([10_003], low: -100, high: 100, generator: &generator).toArray()
        values += [0, -0.0, 88.3, 88.4, -87.3, -87.4, -.infinity, 1e-30, -1e-30, 0.5, -0.5]
        for shift: Float in [0, 3.25, -7.5] {
            var row = values
            row.withUnsafeMutableBufferPointer { mg_exp_shifted_f32($0.baseAddress, $0.count, shift) }
            for (i, v) in values.enumerated() {
                XCTAssertEqual(row[i].bitPattern, fastExp(v - shift).bitPattern, "x \(v), shift \(shift)")
            }
        }
    }

    func testMaxIsExactForEveryLength() {
        var generator = Generator(seed: 8)
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 1000] {
            let values = Tensor.rand([Swift.max(n, 1)], low: -5, high: 5, generator: &generator).toArray().prefix(n)
            let found = Array(values).withUnsafeBufferPointer { mg_max_f32($0.baseAddress, n) }
            XCTAssertEqual(found, values.max() ?? -.infinity, "n \(n)")
        }
        XCTAssertEqual(
            [-Float.infinity, -.infinity].withUnsafeBufferPointer { mg_max_f32($0.baseAddress, 2) }, -.infinity)
    }
}
