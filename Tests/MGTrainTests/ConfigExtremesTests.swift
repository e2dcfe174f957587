import Foundation
import MGConfigs
import MGTestSupport
import MGTrain
import XCTest

/// Every config field fed its extremes (0, negative, huge, wrong type, empty) through `--set` patching and run
/// preparation: each is either accepted and prepares a run whose summary (memory estimate, schedule) is computed
/// without trapping, or refused with an error that names the field. Nothing here may crash the test process: a
/// trap (overflow, precondition, a runaway allocation) fails the whole suite.
final class ConfigExtremesTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mgtrain-extremes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try EmbeddedDefault.ensure(
            root: root,
            dataset: SyntheticDatasetSpec(
                pretrainSamples: 12, sftSamples: 4,
                mmbenchQuestions: 1, seed: 5),
            dataFolder: "data", modelsFolder: "models")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// The values every field is tried with, as `--set` text.
    static let extremes = [
        "0", "-1", "-9223372036854775808", "9223372036854775807", "1000000000000", "1e308",
        "-1e308", "1.5", "\"\"", "\"x\"", "true", "[]", "null", "[1e308, 1e308]"
    ]

    func testEveryFieldAtItsExtremesIsAcceptedOrRefusedByName() throws {
        let base = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
        var refused = 0, prepared = 0
        for key in TrainConfig.CodingKeys.allCases.map(\.rawValue) {
            for value in Self.extremes {
                let set = "\(key)=\(value)"
                let config: TrainConfig
                do {
                    config = try base.applying([set])
                } catch {
                    refused += 1
                    XCTAssertTrue("\(error)".contains(key), "\(set): \(error)")
                    continue
                }
                do {
                    let run = try TrainingRun.prepare(
                        config: config, workDir: root.appendingPathComponent("w"),
                        root: root)
                    // Accepted: the summary's arithmetic must hold too (it multiplies config values).
                    XCTAssertGreaterThan(run.estimatedMemoryBytes, 0, set)
                    XCTAssertFalse(run.summary.isEmpty, set)
                    XCTAssertLessThanOrEqual(run.trainer.batchSize, run.dataset.count, set)
                    XCTAssertLessThanOrEqual(run.trainer.totalIterations, Trainer.maximumIterations, set)
                    prepared += 1
                } catch {
                    refused += 1
                    XCTAssertTrue("\(error)".contains(key), "\(set): \(error)")
                }
            }
        }
        // Both outcomes occur: the sweep is not vacuous.
        XCTAssertGreaterThan(refused, 100)
        XCTAssertGreaterThan(prepared, 10)
    }

    func testBatchLargerThanTheDataIsClampedAndHugeEpochCountsAreRefused() throws {
        let base = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
        let big = try TrainingRun.prepare(
            config: base.with { $0.batchSize = 100_000 },
            workDir: root.appendingPathComponent("big"), root: root)
        XCTAssertEqual(big.trainer.batchSize, big.dataset.count)
        XCTAssertEqual(big.trainer.batchesPerEpoch, 1)
        XCTAssertTrue(big.summary.contains("batch_size 100000 >"), big.summary)
        // 12 samples at batch 1 × 1e6 epochs = 1.2e7 iterations: past the limit, refused before any table is sized.
        XCTAssertThrowsError(
            try TrainingRun.prepare(
                config: base.with {
                    $0.batchSize = 1; $0.maxEpochs = 1_000_000
                },
                workDir: root.appendingPathComponent("epochs"), root: root)
        ) {
            XCTAssertTrue("\($0)".contains("max_epochs"), "\($0)")
        }
        XCTAssertThrowsError(try base.with { $0.maxEpochs = 1_000_000_000_000 }.validate()) {
            XCTAssertTrue("\($0)".contains("max_epochs"), "\($0)")
        }
        XCTAssertThrowsError(
            try TrainingRun.prepare(
                config: base.with { $0.imageSizeAux = 256 },
                workDir: root.appendingPathComponent("aux"), root: root)
        ) {
            XCTAssertTrue("\($0)".contains("image_size_aux 256") && "\($0)".contains("sizes that fit"), "\($0)")
        }
    }

    /// An empty dataset says which file, how many records were read and why each group was dropped; duplicate
    /// record ids are reported once in the summary; a work dir that is a file is refused in words.
    func testEmptyDatasetDuplicateIDsAndWorkDirMessages() throws {
        let base = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
        let data = root.appendingPathComponent(base.dataPath)
        let original = try Data(contentsOf: data)
        try Data("[]".utf8).write(to: data)
        XCTAssertThrowsError(
            try TrainingRun.prepare(config: base, workDir: root.appendingPathComponent("w"), root: root)
        ) {
            XCTAssertTrue("\($0)".contains("the dataset is empty: \(data.path) holds no records"), "\($0)")
        }
        try original.write(to: data)
        XCTAssertThrowsError(
            try TrainingRun.prepare(
                config: base.with { $0.maxLength = 3 },
                workDir: root.appendingPathComponent("w"), root: root)
        ) {
            XCTAssertTrue("\($0)".contains("12 records read from \(data.path)"), "\($0)")
            XCTAssertTrue("\($0)".contains("12 dropped because no answer token is left"), "\($0)")
            XCTAssertTrue("\($0)".contains("max_length 3"), "\($0)")
        }

        var records = try XCTUnwrap(JSONSerialization.jsonObject(with: original) as? [[String: Any]])
        records.append(records[0])
        records.append(records[1])
        records.append(records[0])
        try JSONSerialization.data(withJSONObject: records).write(to: data)
        let run = try TrainingRun.prepare(config: base, workDir: root.appendingPathComponent("w"), root: root)
        XCTAssertEqual(run.duplicateRecordIDs.count, 2)
        XCTAssertTrue(run.summary.contains("note: 2 record ids are used more than once"), run.summary)

        let file = root.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try WorkDirLock(workDir: file)) {
            XCTAssertEqual("\($0)", "cannot use the work dir \(file.path): it is a file, not a folder")
        }
    }
}
