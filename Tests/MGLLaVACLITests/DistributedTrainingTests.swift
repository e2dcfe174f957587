import Foundation
import MGConfigs
import MGTrain
import XCTest
import MGTestSupport

/// Data-parallel training under OpenMPI (issue 9): `mpirun -np 2` on the tiny config gives the per-step losses
/// and final weights of one process with `accumulative_counts` doubled — replicated and with ZeRO stage 1 — and
/// a checkpoint written by 2 ranks resumes on 1. OpenMPI comes from scripts/setup.sh (`openmpi-bin`).
final class DistributedTrainingTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        try EmbeddedDefault.ensure(
            root: root,
            dataset: SyntheticDatasetSpec(
                pretrainSamples: 16, sftSamples: 8,
                mmbenchQuestions: 2, seed: 5),
            dataFolder: "data", modelsFolder: "models")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// tiny_pretrain on 16 samples, batch 2: 8 micro-batches, 4 optimizer steps of 2 micro-batches.
    /// `bucket`: a small `reduce_bucket_size` splits the collectives into many calls (the tiny model fits one).
    private func writeConfig(accumulation: Int, zeroStage: Int = 0, bucket: Int? = nil) throws -> String {
        let config = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models").with {
            $0.batchSize = 2
            $0.maxEpochs = 1
            $0.accumulativeCounts = accumulation
            $0.zeroStage = zeroStage
            $0.reduceBucketSize = bucket
            $0.saveSteps = 2
            $0.saveTotalLimit = -1
        }
        let url = root.appendingPathComponent("config-\(UUID().uuidString).json")
        try Data(try config.jsonString().utf8).write(to: url)
        return url.path
    }

    private func executable() -> URL {
        let directory =
            Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
            ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
        return directory.appendingPathComponent("mgllava")
    }

    private func mpirun() throws -> URL {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        try skipUnlessCI("mpirun is not installed (scripts/setup.sh installs openmpi-bin)")
    }

    /// Runs `mgllava arguments` in `root`, under `mpirun -np ranks` when `ranks` is given.
    private func run(_ arguments: [String], ranks: Int? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        if let ranks {
            process.executableURL = try mpirun()
            var launch = ["--oversubscribe", "-np", "\(ranks)"]
            if getuid() == 0 { launch.insert("--allow-run-as-root", at: 0) }
            process.arguments = launch + [executable().path] + arguments
        } else {
            process.executableURL = executable()
            process.arguments = arguments
        }
        process.currentDirectoryURL = root
        let log = root.appendingPathComponent("log-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // A hung rank (a collective waiting forever) must fail the test, not hold the suite.
        let deadline = Date().addingTimeInterval(600)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTFail("mgllava \(arguments.joined(separator: " ")) did not exit within 600 s")
        }
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
    }

    private func records(_ workDir: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: root.appendingPathComponent("\(workDir)/metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    /// Same steps, losses and grad norms within 1e-5, and every trained tensor of the final checkpoint within 1e-5.
    private func assertEquivalent(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ra = try records(a), rb = try records(b)
        XCTAssertEqual(ra.count, 4, file: file, line: line)
        XCTAssertEqual(ra.count, rb.count, file: file, line: line)
        for (x, y) in zip(ra, rb) {
            XCTAssertEqual(x["iteration"] as? Int, y["iteration"] as? Int, file: file, line: line)
            XCTAssertEqual(x["tokens"] as? Int, y["tokens"] as? Int, "tokens summed over ranks", file: file, line: line)
            for key in ["loss", "grad_norm", "lr"] {
                let u = try XCTUnwrap(x[key] as? Double), v = try XCTUnwrap(y[key] as? Double)
                XCTAssertEqual(
                    u, v, accuracy: 1e-5 * max(1, abs(u)), "\(key) at iteration \(x["iteration"] ?? "?")",
                    file: file, line: line)
            }
        }
        let fa = try SafeTensorsFile(url: root.appendingPathComponent("\(a)/iter_8/model.safetensors"))
        let fb = try SafeTensorsFile(url: root.appendingPathComponent("\(b)/iter_8/model.safetensors"))
        XCTAssertEqual(fa.keys.sorted(), fb.keys.sorted(), file: file, line: line)
        XCTAssertFalse(fa.keys.isEmpty, file: file, line: line)
        var worst: Float = 0
        for key in fa.keys {
            let u = try fa.tensor(key).toArray(), v = try fb.tensor(key).toArray()
            XCTAssertEqual(u.count, v.count, key, file: file, line: line)
            for (p, q) in zip(u, v) { worst = max(worst, abs(p - q)) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-5, "largest weight difference", file: file, line: line)
    }

    /// The single-process reference: one rank, accumulation 2, one thread, as every rank of the parallel runs is
    /// pinned to one thread too (BLAS sums in another order with another thread count, so the equality would
    /// otherwise depend on the machine's cores).
    private func reference() throws -> String {
        let single = try run([
            "train", "pretrain", "--config-file", try writeConfig(accumulation: 2),
            "--work-dir", "single", "--plain", "--threads", "1"
        ])
        XCTAssertEqual(single.status, 0, single.output)
        return "single"
    }

    func testTwoRanksEqualOneRankWithDoubledAccumulation() throws {
        let single = try reference()
        let parallel = try run(
            [
                "train", "pretrain", "--config-file", try writeConfig(accumulation: 1, bucket: 10_000),
                "--work-dir", "parallel", "--plain", "--threads", "1"
            ], ranks: 2)
        XCTAssertEqual(parallel.status, 0, parallel.output)
        XCTAssertTrue(parallel.output.contains("× 2 ranks"), parallel.output)
        // Rank 0 alone prints: one summary, one "outputs:" block.
        XCTAssertEqual(parallel.output.components(separatedBy: "outputs:").count - 1, 1, parallel.output)
        try assertEquivalent(single, "parallel")
    }

    func testZeroStage1EqualsOneRankWithDoubledAccumulation() throws {
        let single = try reference()
        let sharded = try run(
            [
                "train", "pretrain", "--config-file", try writeConfig(accumulation: 1, zeroStage: 1, bucket: 2_000),
                "--work-dir", "sharded", "--plain", "--threads", "1"
            ], ranks: 2)
        XCTAssertEqual(sharded.status, 0, sharded.output)
        XCTAssertTrue(sharded.output.contains("ZeRO stage 1"), sharded.output)
        try assertEquivalent(single, "sharded")
        // The checkpoint holds the full optimizer state, gathered from both ranks.
        let single8 = try SafeTensorsFile(url: root.appendingPathComponent("single/iter_8/optimizer.safetensors"))
        let sharded8 = try SafeTensorsFile(url: root.appendingPathComponent("sharded/iter_8/optimizer.safetensors"))
        XCTAssertEqual(single8.keys.sorted(), sharded8.keys.sorted())
        XCTAssertFalse(single8.keys.isEmpty)
        // And its values are the replicated run's: every moment of every parameter, within 1e-4 of the tensor's
        // largest magnitude (the weights agree to 1e-5; the moments are sums of the same gradients).
        for key in single8.keys {
            let u = try single8.tensor(key).toArray(), v = try sharded8.tensor(key).toArray()
            XCTAssertEqual(u.count, v.count, key)
            let scale = max(u.map(abs).max() ?? 0, 1e-30)
            let worst = zip(u, v).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(key): largest difference \(worst) of \(scale)")
        }
    }

    func testTwoRankCheckpointResumesOnOneRank() throws {
        let single = try reference()
        let first = try run(
            [
                "train", "pretrain", "--config-file", try writeConfig(accumulation: 1, zeroStage: 1),
                "--work-dir", "moved", "--plain", "--max-steps", "2", "--threads", "1"
            ], ranks: 2)
        XCTAssertEqual(first.status, 0, first.output)
        let resumed = try run([
            "train", "pretrain", "--config-file", try writeConfig(accumulation: 2),
            "--work-dir", "moved", "--plain", "--resume", "--threads", "1"
        ])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resumed from"), resumed.output)
        try assertEquivalent(single, "moved")
    }
}
