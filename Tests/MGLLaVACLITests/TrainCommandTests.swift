import Foundation
import MGConfigs
import MGTrain
import XCTest

/// `mgllava train` and `mgllava eval mmbench` as separate processes on a small generated embedded dataset: the
/// SIGKILL-resume guarantee, bad-sample policies and the printed outputs.
final class TrainCommandTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        try EmbeddedDefault.ensure(
            root: root,
            dataset: SyntheticDatasetSpec(
                pretrainSamples: 16, sftSamples: 8,
                mmbenchQuestions: 2, seed: 11),
            dataFolder: "data", modelsFolder: "models")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// tiny_pretrain on the small data: 2 epochs of 8 batches, a checkpoint every 2 iterations.
    private func writeConfig(_ edit: (inout TrainConfig) -> Void = { _ in }) throws -> String {
        let config = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models").with {
            $0.batchSize = 2
            $0.maxEpochs = 2
            $0.saveSteps = 2
            $0.saveTotalLimit = 3
            edit(&$0)
        }
        let url = root.appendingPathComponent("config-\(UUID().uuidString).json")
        try Data(try config.jsonString().utf8).write(to: url)
        return url.path
    }

    private func executable() throws -> URL {
        let directory =
            Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
            ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
        return directory.appendingPathComponent("mgllava")
    }

    /// Starts `mgllava` in `root` with output to files (so a killed process leaves no pipe behind).
    private func start(_ arguments: [String], log: String) throws -> Process {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        process.currentDirectoryURL = root
        let out = root.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    /// Waits (at most 5 minutes) for `process` to exit; kills it and fails past that.
    private func wait(_ process: Process, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTFail("mgllava did not exit within 300 s", file: file, line: line)
        }
        process.waitUntilExit()
    }

    /// Waits for the run to reach its --pause-file (at most 5 minutes), failing if it exits or times out first.
    private func waitFor(_ pause: URL, _ process: Process) throws {
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: pause.path) {
            guard process.isRunning, Date() < deadline else {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                throw RunDidNotPause(file: pause.path, exited: !process.isRunning)
            }
            usleep(10_000)
        }
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let log = "log-\(UUID().uuidString).txt"
        let process = try start(arguments, log: log)
        try wait(process)
        return (process.terminationStatus, try String(contentsOf: root.appendingPathComponent(log), encoding: .utf8))
    }

    private func losses(_ workDir: String) throws -> [Double] {
        let text = try String(contentsOf: root.appendingPathComponent("\(workDir)/metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try XCTUnwrap(object?["loss"] as? Double)
        }
    }

    /// `--estimate-memory` prints the memory row from the headers and stops before anything is trained; a normal
    /// run prints the same row first.
    func testEstimateMemoryPrintsTheRowAndStops() throws {
        let config = try writeConfig()
        let estimate = try run(["train", "pretrain", "--config-file", config, "--work-dir", "est", "--estimate-memory"])
        XCTAssertEqual(estimate.status, 0, estimate.output)
        let line = try XCTUnwrap(
            estimate.output.split(separator: "\n").first { $0.hasPrefix("memory per rank, estimated: frozen:") },
            estimate.output)
        XCTAssertTrue(line.contains("trainable parameters") && line.contains("→ about"), String(line))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("est").path))
        let trained = try run(["train", "pretrain", "--config-file", config, "--work-dir", "est", "--max-steps", "1"])
        XCTAssertEqual(trained.status, 0, trained.output)
        XCTAssertTrue(trained.output.contains(String(line)), trained.output)
    }

    func testKilledRunResumesToTheSameLosses() throws {
        let config = try writeConfig()
        let straight = try run(["train", "pretrain", "--config-file", config, "--work-dir", "straight", "--plain"])
        XCTAssertEqual(straight.status, 0, straight.output)
        let expected = try losses("straight")
        XCTAssertEqual(expected.count, 16)
        XCTAssertTrue(straight.output.contains("outputs:"), straight.output)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: root.appendingPathComponent("straight/loss_curve.svg").path))

        // Kill with SIGKILL while the run waits after step 4 (checkpoint iter_4 written, iteration 5 not started).
        let pause = root.appendingPathComponent("killed.pause")
        let process = try start(
            [
                "train", "pretrain", "--config-file", config, "--work-dir", "killed", "--plain",
                "--pause-after-steps", "4", "--pause-file", pause.path
            ], log: "killed.txt")
        try waitFor(pause, process)
        kill(process.processIdentifier, SIGKILL)
        try wait(process)
        let at = 4
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(Trainer.latestCheckpoint(in: root.appendingPathComponent("killed"))?.lastPathComponent, "iter_4")

        // Without --resume the earlier run is not touched.
        let refused = try run(["train", "pretrain", "--config-file", config, "--work-dir", "killed"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(
            refused.output.contains("holds an earlier run (latest iter_\(at)): pass --resume"), refused.output)

        let resumed = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "killed", "--resume", "--plain"
        ])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from"), resumed.output)
        XCTAssertEqual(try losses("killed"), expected, "killed at iteration ≥ \(at)")
        // The final weights are identical too.
        let a = try Data(contentsOf: root.appendingPathComponent("straight/iter_16/model.safetensors"))
        let b = try Data(contentsOf: root.appendingPathComponent("killed/iter_16/model.safetensors"))
        XCTAssertEqual(a, b)
    }

    func testSIGTERMCheckpointsAndExits() throws {
        let config = try writeConfig { $0.saveSteps = 100 }  // no periodic checkpoint before the signal
        let pause = root.appendingPathComponent("stopped.pause")
        let process = try start(
            [
                "train", "pretrain", "--config-file", config, "--work-dir", "stopped", "--plain",
                "--pause-after-steps", "1", "--pause-file", pause.path
            ], log: "stopped.txt")
        // Signal while the run waits after its first step.
        let log = root.appendingPathComponent("stopped.txt")
        try waitFor(pause, process)
        kill(process.processIdentifier, SIGTERM)
        try wait(process)
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 130, output)
        XCTAssertTrue(output.contains("checkpoint saved, continue with --resume"), output)
        let latest = try XCTUnwrap(Trainer.latestCheckpoint(in: root.appendingPathComponent("stopped")))
        XCTAssertTrue(latest.lastPathComponent.hasPrefix("iter_"))
        let resumed = try run(["train", "pretrain", "--config-file", config, "--work-dir", "stopped", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertEqual(try losses("stopped").count, 16)
    }

    func testBadSamplesFailByDefaultAndAreCountedWhenSkipped() throws {
        let config = try writeConfig { $0.maxEpochs = 1 }
        try FileManager.default.removeItem(at: root.appendingPathComponent("data/images/pretrain_000003.png"))
        let failed = try run(["train", "pretrain", "--config-file", config, "--work-dir", "fail", "--plain"])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.output.contains("pretrain_000003"), failed.output)
        XCTAssertFalse(failed.output.contains("Fatal error"), failed.output)

        let skipped = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "skip", "--plain",
            "--on-bad-sample", "skip"
        ])
        // --overwrite starts the same work dir again from scratch.
        let again = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "skip", "--plain",
            "--on-bad-sample", "skip", "--overwrite"
        ])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertEqual(try losses("skip").count, 8)
        XCTAssertEqual(skipped.status, 0, skipped.output)
        XCTAssertTrue(skipped.output.contains("skipped 1 bad samples"), skipped.output)
        XCTAssertTrue(skipped.output.contains("pretrain_000003"), skipped.output)

        // Malformed JSON names the file, line and column.
        let broken = root.appendingPathComponent("data/pretrain.json")
        try Data("[\n  {\"id\": 1,,}\n]".utf8).write(to: broken)
        let malformed = try run(["train", "pretrain", "--config-file", config, "--work-dir", "bad-json"])
        XCTAssertNotEqual(malformed.status, 0)
        XCTAssertTrue(malformed.output.contains("pretrain.json"), malformed.output)
        XCTAssertTrue(malformed.output.contains("pretrain.json:2:12"), malformed.output)
    }

    /// Config values that used to trap or allocate without bound exit 1 with a message naming the field.
    func testExtremeConfigValuesExitOneNamingTheField() throws {
        let config = try writeConfig()
        for (set, field) in [
            ("image_size_aux=256", "image_size_aux 256"), ("limit_num=1000000000", "limit_num"),
            ("max_epochs=1000000000000", "max_epochs"), ("batch_size=-1", "batch_size"),
            ("lr=-1", "lr"), ("data_path=\"missing.json\"", "data_path"), ("max_length=true", "max_length")
        ] {
            let r = try run([
                "train", "pretrain", "--config-file", config, "--work-dir", "extreme", "--plain",
                "--set", set
            ])
            XCTAssertEqual(r.status, 1, "\(set): \(r.output)")
            XCTAssertTrue(r.output.contains(field), "\(set): \(r.output)")
        }
        // A batch larger than the data trains as one batch of all of it (no padded repeats).
        let big = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "big", "--plain",
            "--set", "batch_size=100000", "--set", "max_epochs=1"
        ])
        XCTAssertEqual(big.status, 0, big.output)
        XCTAssertTrue(big.output.contains("batch 16 (batch_size 100000 > the 16 samples)"), big.output)
        XCTAssertEqual(try losses("big").count, 1)
    }

    /// `--overwrite` checks everything before it touches the earlier run, moves that run aside, and deletes it
    /// only after the new run's first checkpoint.
    func testOverwriteKeepsTheEarlierRunUntilTheNewOneHasACheckpoint() throws {
        let config = try writeConfig { $0.maxEpochs = 1 }
        let first = try run(["train", "pretrain", "--config-file", config, "--work-dir", "ow", "--plain"])
        XCTAssertEqual(first.status, 0, first.output)
        let workDir = root.appendingPathComponent("ow")
        let before = try Data(contentsOf: workDir.appendingPathComponent("metrics.jsonl"))
        let checkpoints = Trainer.checkpoints(in: workDir).map(\.iteration)
        XCTAssertFalse(checkpoints.isEmpty)

        for bad in [["--set", "lr=-1"], ["--set", "data_path=\"nowhere.json\""], ["--set", "image_size_aux=256"]] {
            let failed = try run(
                [
                    "train", "pretrain", "--config-file", config, "--work-dir", "ow", "--plain",
                    "--overwrite"
                ] + bad)
            XCTAssertEqual(failed.status, 1, "\(bad): \(failed.output)")
            XCTAssertEqual(try Data(contentsOf: workDir.appendingPathComponent("metrics.jsonl")), before, "\(bad)")
            XCTAssertEqual(Trainer.checkpoints(in: workDir).map(\.iteration), checkpoints, "\(bad)")
        }
        let again = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "ow", "--plain", "--overwrite",
            "--set", "lr=0.002"
        ])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(again.output.contains("the earlier run is in"), again.output)
        let names = try FileManager.default.contentsOfDirectory(atPath: workDir.path)
        XCTAssertFalse(names.contains { $0.hasPrefix(EarlierRun.asidePrefix) }, "\(names)")
        XCTAssertEqual(try losses("ow").count, 8)  // one run's lines only
        XCTAssertNotEqual(try Data(contentsOf: workDir.appendingPathComponent("metrics.jsonl")), before)
    }

    /// A second process on a locked work dir refuses, naming the holder's pid; the lock goes with its holder.
    func testSecondProcessOnALockedWorkDirRefuses() throws {
        let config = try writeConfig { $0.maxEpochs = 1 }
        let workDir = root.appendingPathComponent("locked")
        var lock: WorkDirLock? = try WorkDirLock(workDir: workDir)
        XCTAssertThrowsError(try WorkDirLock(workDir: workDir)) {
            XCTAssertEqual($0 as? WorkDirLockError, .held(workDir.path, pid: ProcessInfo.processInfo.processIdentifier))
        }
        let refused = try run(["train", "pretrain", "--config-file", config, "--work-dir", "locked", "--plain"])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(
            refused.output.contains(
                "in use by another training process (pid \(ProcessInfo.processInfo.processIdentifier))"),
            refused.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDir.appendingPathComponent("metrics.jsonl").path))
        withExtendedLifetime(lock) {}
        lock = nil
        let ran = try run(["train", "pretrain", "--config-file", config, "--work-dir", "locked", "--plain"])
        XCTAssertEqual(ran.status, 0, ran.output)
    }

    /// An lr that blows the weights up stops the run with an error after a few non-finite steps, and no checkpoint
    /// with non-finite weights is written.
    func testDivergedRunStopsWithoutWritingNonFiniteCheckpoints() throws {
        let config = try writeConfig {
            $0.maxEpochs = 1; $0.saveSteps = 1
        }
        let r = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "nan", "--plain",
            "--set", "lr=1e308", "--set", "warmup_ratio=0"
        ])
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("training diverged"), r.output)
        let workDir = root.appendingPathComponent("nan")
        for checkpoint in Trainer.checkpoints(in: workDir) {
            let weights = try SafeTensorsFile(url: checkpoint.url.appendingPathComponent(Trainer.modelFile))
            for name in weights.keys {
                XCTAssertNil(
                    try weights.tensor(name).firstNonFiniteIndex, "\(checkpoint.url.lastPathComponent) \(name)")
            }
        }
    }

    /// `data process` then training from the pre-tokenised folder gives the JSON run's losses and weights; and
    /// `--resume-from` another work dir's `iter_N` continues to the uninterrupted run's losses.
    func testPreTokenisedFolderAndResumeFromGiveTheSameRun() throws {
        let config = try writeConfig { $0.maxEpochs = 1 }
        let fromJSON = try run(["train", "pretrain", "--config-file", config, "--work-dir", "json", "--plain"])
        XCTAssertEqual(fromJSON.status, 0, fromJSON.output)
        let expected = try losses("json")
        XCTAssertEqual(expected.count, 8)

        let processed = try run(["data", "process", "--config-file", config, "--save-folder", "processed"])
        XCTAssertEqual(processed.status, 0, processed.output)
        XCTAssertTrue(processed.output.contains("16 records tokenised (0 skipped)"), processed.output)
        let offline = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "offline", "--plain",
            "--set", "offline_processed_text_folder=\"processed\""
        ])
        XCTAssertEqual(offline.status, 0, offline.output)
        XCTAssertTrue(offline.output.contains("reading the pre-tokenised"), offline.output)
        XCTAssertEqual(try losses("offline"), expected)
        XCTAssertEqual(
            try Data(contentsOf: root.appendingPathComponent("json/iter_8/model.safetensors")),
            try Data(contentsOf: root.appendingPathComponent("offline/iter_8/model.safetensors")))

        // A new work dir continuing from the JSON run's iter_4 (kept by save_total_limit 3 of a 2-step interval:
        // iter_4, iter_6, iter_8 remain).
        let resumed = try run([
            "train", "pretrain", "--config-file", config, "--work-dir", "continued", "--plain",
            "--resume-from", "json/iter_4"
        ])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from json/iter_4 at iteration 4"), resumed.output)
        XCTAssertEqual(try losses("continued"), expected)
        XCTAssertEqual(
            try Data(contentsOf: root.appendingPathComponent("json/iter_8/model.safetensors")),
            try Data(contentsOf: root.appendingPathComponent("continued/iter_8/model.safetensors")))
    }

    func testWrongStageAndUnknownConfigAreClearErrors() throws {
        let sft = try run(["train", "pretrain", "--config", "tiny_sft"])
        XCTAssertNotEqual(sft.status, 0)
        XCTAssertTrue(sft.output.contains("use `mgllava train sft`"), sft.output)
        let unknown = try run(["train", "sft", "--config", "tiny_sfx"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.output.contains("tiny_sft"), unknown.output)
    }

    func testEvalMMBenchWritesResultsAndTable() throws {
        let config = try writeConfig { $0.maxEpochs = 1 }
        XCTAssertEqual(try run(["train", "pretrain", "--config-file", config, "--work-dir", "pre"]).status, 0)
        let sets = [
            "llm_name_or_path=models/llm", "visual_encoder_name_or_path=models/clip",
            "visual_encoder_aux_path=models/convnext"
        ].flatMap { ["--set", $0] }
        let eval = try run(
            [
                "eval", "mmbench", "--checkpoint", "pre", "--data", "data/mmbench_dev.tsv",
                "--work-dir", "eval", "--max-new-tokens", "3"
            ] + sets)
        XCTAssertEqual(eval.status, 0, eval.output)
        XCTAssertTrue(eval.output.contains("Average"), eval.output)
        // A missing TSV or checkpoint is named.
        let missing = try run(["eval", "mmbench", "--checkpoint", "pre", "--data", "data/nope.tsv"] + sets)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.output.contains("nope.tsv"), missing.output)
        let untrained = try run(["eval", "mmbench", "--checkpoint", "never", "--data", "data/mmbench_dev.tsv"] + sets)
        XCTAssertNotEqual(untrained.status, 0)
        XCTAssertTrue(untrained.output.contains("checkpoint \(root.path)/never does not exist"), untrained.output)
        for file in ["mmbench_dev-results.csv", "mmbench_dev-results.json"] {
            XCTAssertTrue(
                FileManager.default.fileExists(atPath: root.appendingPathComponent("eval/\(file)").path), file)
        }
    }
}

/// The run under test never reached its --pause-file.
struct RunDidNotPause: Error, CustomStringConvertible {
    let file: String
    let exited: Bool
    var description: String { "the run \(exited ? "exited" : "timed out") before writing \(file)" }
}
