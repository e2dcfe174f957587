import Foundation
import MGConfigs
import MGTestSupport
import MGTrain
import XCTest

/// The library's training session: a step callback stops the run (with a checkpoint at the step reached), a fresh
/// session refuses a work dir holding a run, resuming continues to the uninterrupted run's losses, and the lock
/// keeps a second session out while the first is alive.
final class TrainingSessionTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mgtrain-session-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try EmbeddedDefault.ensure(
            root: root,
            dataset: SyntheticDatasetSpec(
                pretrainSamples: 8, sftSamples: 4,
                mmbenchQuestions: 1, seed: 3),
            dataFolder: "data", modelsFolder: "models")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func testStopResumeAndWorkDirPolicyThroughTheLibrary() throws {
        let config = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
            .with {
                $0.batchSize = 2; $0.maxEpochs = 2; $0.saveSteps = 100
            }
        let straightDir = root.appendingPathComponent("straight"), stoppedDir = root.appendingPathComponent("stopped")
        let expected = try {
            let session = try TrainingSession(config: config, workDir: straightDir, root: root)
            XCTAssertEqual(try session.train().steps, 8)
            return session.trainer.history.map(\.loss)
        }()

        var seen = 0
        do {
            let session = try TrainingSession(config: config, workDir: stoppedDir, root: root)
            let outcome = try session.train { _ in
                seen += 1
                return seen == 3 ? .stop : .proceed
            }
            XCTAssertTrue(outcome.stopped)
            XCTAssertEqual(outcome.steps, 3)
            XCTAssertEqual(session.trainer.lastSavedIteration, 3)
            XCTAssertNotNil(outcome.lossCurve)
            // The lock: a second session on the same work dir is refused while this one lives.
            XCTAssertThrowsError(try TrainingSession(config: config, workDir: stoppedDir, root: root, start: .resume)) {
                XCTAssertTrue("\($0)".contains("in use by another training process"), "\($0)")
            }
        }
        XCTAssertThrowsError(try TrainingSession(config: config, workDir: stoppedDir, root: root)) {
            XCTAssertTrue("\($0)".contains("holds an earlier run (latest iter_3)"), "\($0)")
        }
        let resumed = try TrainingSession(config: config, workDir: stoppedDir, root: root, start: .resume)
        XCTAssertEqual(resumed.resumed?.iteration, 3)
        XCTAssertEqual(try resumed.train().steps, 5)
        XCTAssertEqual(resumed.trainer.history.map(\.loss), expected)
    }
}
