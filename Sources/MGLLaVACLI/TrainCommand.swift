import ArgumentParser
import Foundation
import MGConfigs
import MGTrain

/// `mgllava train pretrain|sft`: upstream's two stages (SPEC §3–5). With no flags, the embedded default:
/// `tiny_pretrain` / `tiny_sft` on the synthetic dataset generated on first use (DESIGN §7).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train MG-LLaVA: stage 1 (pretrain, LLM frozen) or stage 2 (sft, LLM trained).",
        subcommands: [Pretrain.self, SFT.self])

    struct Pretrain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stage 1: train the fusion and projectors with the towers and the LLM frozen.")
        @OptionGroup var options: TrainOptions
        func run() throws { try options.run(stage: .pretrain, defaultConfig: "tiny_pretrain") }
    }

    struct SFT: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sft",
            abstract: "Stage 2: fine-tune the LLM with the fusion and projectors, from the stage-1 checkpoint.")
        @OptionGroup var options: TrainOptions
        func run() throws { try options.run(stage: .sft, defaultConfig: "tiny_sft") }
    }
}

struct TrainOptions: ParsableArguments {
    @OptionGroup var selection: ConfigSelection

    @Option(help: "Where checkpoints, metrics.jsonl and the loss curve go (default: work_dirs/<config name>).")
    var workDir: String?

    @Flag(help: "Continue from the latest checkpoint in the work dir (starts fresh when there is none).")
    var resume = false

    @Option(help: "Continue from this checkpoint folder (iter_N) or work dir.")
    var resumeFrom: String?

    @Flag(
        help:
            "Start from the beginning in a work dir that holds an earlier run (moved aside, and deleted once the new run saves its first checkpoint)."
    )
    var overwrite = false

    @Option(
        help:
            "Stop with an error after this many optimizer steps in a row with a non-finite loss or gradient norm (their updates are skipped)."
    )
    var maxNonFiniteSteps: Int?

    @Option(help: "What a bad sample (malformed record, missing image, bad boxes) does: fail or skip.")
    var onBadSample: String = "fail"

    @Option(help: "Stop after this many optimizer steps (the schedule still spans the whole run).")
    var maxSteps: Int?

    @Flag(help: "Print one progress line per step instead of a bar.")
    var plain = false

    @Flag(help: "Print the memory a step will need (from the files' headers; nothing is loaded) and stop.")
    var estimateMemory = false

    /// Test hook: after this many optimizer steps (and any checkpoint they trigger), write --pause-file and wait
    /// while it exists (or until a signal), so a test can signal or kill the run at a known point without racing it.
    @Option(help: .hidden) var pauseAfterSteps: Int?
    @Option(help: .hidden) var pauseFile: String?

    @Option(
        help:
            "Compute threads of this process (default: the machine's cores, divided among the ranks mpirun starts on it)."
    )
    var threads: Int?

    func validate() throws {
        if BadSamplePolicy(rawValue: onBadSample) == nil {
            throw ValidationError("--on-bad-sample must be fail or skip, got \"\(onBadSample)\"")
        }
        if let maxSteps, maxSteps <= 0 { throw ValidationError("--max-steps must be positive, got \(maxSteps)") }
        if (pauseAfterSteps == nil) != (pauseFile == nil) {
            throw ValidationError("--pause-after-steps needs --pause-file")
        }
        if let maxNonFiniteSteps, maxNonFiniteSteps <= 0 {
            throw ValidationError("--max-non-finite-steps must be positive, got \(maxNonFiniteSteps)")
        }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive, got \(threads)") }
        if overwrite && (resume || resumeFrom != nil) { throw ValidationError("--overwrite contradicts --resume") }
    }

    /// Writes `file` (holding the iteration) and waits while it exists and no signal came (see --pause-after-steps).
    static func pause(at iteration: Int, file: String) {
        FileManager.default.createFile(atPath: file, contents: Data("\(iteration)\n".utf8))
        while FileManager.default.fileExists(atPath: file) && !InterruptFlag.isSet { usleep(10_000) }
    }

    /// Under `mpirun` every rank runs this; rank 0 prints and writes, and an error on any rank ends the whole job
    /// (MPI_Abort) so that no rank waits forever inside a collective.
    func run(stage: TrainConfig.Stage, defaultConfig: String) throws {
        let environment = DistributedEnvironment.current
        let communicator = try Communicators.fromEnvironment()
        // Ranks sharing a machine share its cores: one BLAS/kernel thread set per rank, not per machine.
        let local = max(1, environment.localSize ?? 1)
        if threads != nil || local > 1 {
            let n = threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / local)
            Parallel.threadCount = n
            Parallel.setBLASThreads(n)
        }
        do {
            try train(stage: stage, defaultConfig: defaultConfig, communicator: communicator)
        } catch let exit as ExitCode {
            try (communicator as? MPICommunicator)?.finalize()
            throw exit
        } catch {
            if communicator.size > 1 {
                FileHandle.standardError.write(Data("rank \(communicator.rank): error: \(error)\n".utf8))
                communicator.abort(code: 1)
            }
            throw error
        }
        try (communicator as? MPICommunicator)?.finalize()
    }

    private func train(stage: TrainConfig.Stage, defaultConfig: String, communicator: any Communicator) throws {
        let leader = communicator.rank == 0
        func print(_ text: String) { if leader { Swift.print(text) } }
        let config = try selection.load(defaultName: defaultConfig)
        guard config.stage == stage else {
            throw UnknownConfig(
                message: "config \(config.name) is a \(config.stage.rawValue) config; "
                    + "use `mgllava train \(config.stage.rawValue)`")
        }
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        // The memory estimate comes first, from the headers: a run that cannot fit says so before loading.
        try config.validate()
        if leader {
            if EmbeddedDefault.uses(config) { try EmbeddedDefault.ensure(root: root, log: { print($0) }) }
            let estimate = try TrainingMemoryEstimate(config: config, root: root)
            print("memory per rank, estimated: \(estimate.row)")
            let row = try TrainingMemoryEstimate.row(config: config, root: root)
            print(
                "  this model: full fine-tune \(row.full.totalText), LoRA over the base as stored "
                    + "\(row.lora.totalText), LoRA over a 4-bit base \(row.quantizedLoRA.totalText)")
            let physical = Int(ProcessInfo.processInfo.physicalMemory)
            if estimate.totalBytes > physical {
                print(
                    String(
                        format: "warning: that is more than this machine's %.1f GiB of memory",
                        Double(physical) / Double(1 << 30)))
            }
        }
        if estimateMemory { return }
        let workDir = TrainingRun.resolve(workDir ?? "work_dirs/\(config.name)", root: root)
        let start: TrainingStart =
            resumeFrom.map { .resumeFrom(TrainingRun.resolve($0, root: root)) }
            ?? (resume ? .resume : overwrite ? .overwrite : .fresh)
        let started = Date()
        let session = try TrainingSession(
            config: config, workDir: workDir, root: root, start: start,
            onBadSample: BadSamplePolicy(rawValue: onBadSample) ?? .fail,
            communicator: communicator, log: { print($0) })
        let run = session.run, trainer = session.trainer
        if let maxNonFiniteSteps { trainer.maxConsecutiveNonFiniteSteps = maxNonFiniteSteps }
        if let resumed = session.resumed {
            print("resumed from \(resumeFrom ?? resumed.from.path) at iteration \(resumed.iteration)")
        }
        print(run.summary)
        if trainer.isFinished { print("training already finished (\(trainer.totalIterations) iterations)") }

        let bar = ProgressBar(total: trainer.totalIterations, plain: plain)
        if leader { trainer.onProgress = { bar.update($0) } }
        // Ctrl-C (SIGINT) or SIGTERM: finish the current step, checkpoint, exit; `--resume` continues exactly.
        InterruptFlag.install()
        var steps = 0
        let outcome = try session.train(maxSteps: maxSteps, stopRequested: { InterruptFlag.isSet }) { _ in
            steps += 1
            if leader, steps == pauseAfterSteps, let pauseFile { Self.pause(at: trainer.iteration, file: pauseFile) }
            return .proceed
        }
        bar.finish()
        let signalled = outcome.stopped
        guard leader else {
            if signalled { throw ExitCode(130) }
            return
        }

        let history = trainer.history
        if run.dataset.skipped.count > 0 {
            print("skipped \(run.dataset.skipped.count) bad samples (--on-bad-sample skip):")
            for s in run.dataset.skipped.prefix(10) { print("  \(s.id): \(s.reason)") }
        }
        if let first = history.first, let last = history.last {
            let window = max(1, min(10, history.count / 5))
            let head = history.prefix(window).map(\.loss).reduce(0, +) / Double(window)
            let tail = history.suffix(window).map(\.loss).reduce(0, +) / Double(window)
            print(
                String(
                    format: "loss: %.4f → %.4f (mean of the first/last %d steps; iterations %d…%d)",
                    head, tail, window, first.iteration, last.iteration))
        }
        print(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
        print("outputs:")
        if let latest = Trainer.latestCheckpoint(in: workDir) { print("  checkpoint  \(latest.path)") }
        print("  metrics     \(workDir.appendingPathComponent("metrics.jsonl").path)")
        if let curve = outcome.lossCurve { print("  loss curve  \(curve.path)") }
        if signalled {
            print("interrupted at iteration \(trainer.iteration): checkpoint saved, continue with --resume")
            throw ExitCode(130)
        }
        if trainer.isFinished {
            switch stage {
            case .pretrain where config.name == "tiny_pretrain": print("next: mgllava train sft")
            case .sft where config.name == "tiny_sft": print("next: mgllava eval mmbench")
            default: break
            }
        }
    }
}

/// Set by SIGINT/SIGTERM so the training loop can stop between steps and checkpoint.
enum InterruptFlag {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static var isSet: Bool { flag != 0 }

    /// The first signal asks for a clean stop; a second one terminates at once (default action).
    static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { received in
                if InterruptFlag.flag != 0 {
                    signal(received, SIG_DFL)
                    raise(received)
                }
                InterruptFlag.flag = 1
            }
        }
    }
}

/// The progress line: a bar on a terminal (redrawn in place), plain lines otherwise (logs, CI).
final class ProgressBar {
    let total: Int
    let interactive: Bool
    let everyStep: Bool
    private var lastPlain = Date.distantPast

    init(total: Int, plain: Bool) {
        self.total = max(total, 1)
        everyStep = plain
        interactive = !plain && isatty(STDOUT_FILENO) != 0
    }

    func update(_ p: TrainProgress) {
        let fraction = Double(p.iteration) / Double(total)
        let filled = Int(fraction * 24)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: 24 - filled)
        let line = String(
            format: "[%@] %d/%d %3.0f%% loss %.4f lr %.2e %.0f tok/s ETA %@",
            bar, p.iteration, total, fraction * 100, p.loss, p.lr, p.tokensPerSecond,
            Self.clock(p.etaSeconds))
        if interactive {
            print("\r" + line, terminator: "")
            fflush(stdout)
        } else if everyStep || Date().timeIntervalSince(lastPlain) >= 5 || p.iteration == total {
            // Non-terminal output gets a line every 5 s (and the last), so logs stay readable.
            print(line)
            fflush(stdout)
            lastPlain = Date()
        }
    }

    func finish() { if interactive { print("") } }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600
            ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            : String(format: "%02d:%02d", s / 60, s % 60)
    }
}
