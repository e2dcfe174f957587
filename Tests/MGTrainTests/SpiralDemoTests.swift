import Foundation
import MGTrain
import XCTest

/// `mgllava demo` as a library call: the MLP learns the spiral (chance 1/3) and the reloaded checkpoint predicts
/// the same.
final class SpiralDemoTests: XCTestCase {
    func testSpiralDemoLearnsAndReloads() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgdemo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try SpiralDemo.run(workDir: dir, iterations: 400, seed: 0)
        XCTAssertGreaterThanOrEqual(result.accuracy, 0.9)
        XCTAssertEqual(result.reloadedAccuracy, result.accuracy)
        XCTAssertLessThan(result.lastLoss, result.firstLoss / 3)
        XCTAssertEqual(try String(contentsOf: result.metrics, encoding: .utf8).split(separator: "\n").count, 400)
    }
}
