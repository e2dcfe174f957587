import XCTest
import MGNN
import MGTestSupport

/// The warmup + cosine schedule against mmengine 0.10.7 (Tests/Fixtures/reference/optim.json, `lr_schedule`).
final class LRScheduleTests: XCTestCase {
    struct Reference {
        var iterations: Int
        var baseLR: Double
        var warmup: Int
        var values: [Double]
    }

    func reference(_ n: Int) throws -> Reference {
        let data = try Data(contentsOf: Fixtures.url("reference/optim.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let schedules = try XCTUnwrap((json["lr_schedule"] as? [String: Any])?["schedules"] as? [String: Any])
        let s = try XCTUnwrap(schedules[String(n)] as? [String: Any])
        return Reference(
            iterations: try XCTUnwrap(s["iterations"] as? Int),
            baseLR: try XCTUnwrap(s["base_lr"] as? Double),
            warmup: try XCTUnwrap(s["warmup_iters_W"] as? Int),
            values: try XCTUnwrap(s["lr_per_iteration"] as? [Double]))
    }

    func assertMatchesMMEngine(_ n: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let ref = try reference(n)
        let schedule = WarmupCosineSchedule(
            baseLR: ref.baseLR, iterations: ref.iterations, warmupRatio: 0.03,
            startFactor: 1e-5, etaMin: 0)
        XCTAssertEqual(schedule.warmupIterations, ref.warmup, file: file, line: line)
        XCTAssertEqual(schedule.values.count, ref.values.count, file: file, line: line)
        for (t, expected) in ref.values.enumerated() {
            let actual = schedule.lr(at: t)
            XCTAssertEqual(actual, expected, accuracy: 1e-9 * abs(expected), "N=\(n) t=\(t)", file: file, line: line)
        }
        XCTAssertEqual(
            lrSchedule(baseLR: ref.baseLR, iterations: n, warmupRatio: 0.03), schedule.values,
            file: file, line: line)
    }

    func testMatchesMMEngineWithSixWarmupIterations() throws { try assertMatchesMMEngine(200) }

    /// W = 1: LinearLR never raises the lr, and the run stays near base·start_factor.
    func testMatchesMMEngineWithOneWarmupIteration() throws {
        try assertMatchesMMEngine(37)
        let schedule = WarmupCosineSchedule(baseLR: 1e-3, iterations: 37, warmupRatio: 0.03)
        XCTAssertLessThanOrEqual(schedule.values.max() ?? 1, 1e-8 * (1 + 1e-12))
    }

    func testAgreesWithClosedFormForLongerWarmup() {
        let base = 2e-4, n = 1000, w = 30
        let schedule = WarmupCosineSchedule(baseLR: base, iterations: n, warmupIterations: w)
        for t in 0..<n {
            let closed =
                t < w
                ? base * (1e-5 + (1 - 1e-5) * Double(t) / Double(w - 1))
                : base * 0.5 * (1 + cos(Double.pi * Double(t - w) / Double(n - w)))
            XCTAssertEqual(schedule.lr(at: t), closed, accuracy: 1e-12 + 1e-9 * closed, "t=\(t)")
        }
    }

    func testResumesAtAnyIterationAndHoldsPastTheEnd() {
        let schedule = WarmupCosineSchedule(baseLR: 1e-3, iterations: 50, warmupRatio: 0.1)
        let again = WarmupCosineSchedule(baseLR: 1e-3, iterations: 50, warmupRatio: 0.1)
        XCTAssertEqual(again.lr(at: 23), schedule.values[23])
        XCTAssertEqual(schedule.lr(at: 50), schedule.values[49])
        XCTAssertEqual(schedule.lr(at: 1000), schedule.values[49])
    }

    func testNoWarmupStartsTheCosineAtTheBaseRate() {
        let schedule = WarmupCosineSchedule(baseLR: 1e-3, iterations: 20, warmupRatio: 0.03)
        XCTAssertEqual(schedule.warmupIterations, 0)
        XCTAssertEqual(schedule.lr(at: 0), 1e-3)
        XCTAssertEqual(schedule.lr(at: 10), 1e-3 * 0.5 * (1 + cos(Double.pi * 10 / 20)), accuracy: 1e-15)
    }
}
