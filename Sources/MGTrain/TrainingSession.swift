import Foundation

/// What a step callback tells a `TrainingSession`: go on, or stop after this step (a checkpoint is saved).
public enum TrainingControl: Sendable {
    case proceed
    case stop
}

/// How a session treats the work dir it is given.
public enum TrainingStart: Equatable, Sendable {
    /// A new run; a work dir that holds an earlier one is refused (`TrainerError.earlierRun`).
    case fresh
    /// A new run replacing an earlier one: the earlier run is moved aside once everything is loaded and checked,
    /// and deleted when the new run has saved its first checkpoint.
    case overwrite
    /// Continue the work dir's latest checkpoint (a fresh start when there is none).
    case resume
    /// Continue this checkpoint folder (`iter_N`) or another work dir's latest checkpoint.
    case resumeFrom(URL)
}

/// A training run in its work dir, from start to stop: the exclusive lock on the work dir, the earlier-run policy,
/// preparation (`TrainingRun.prepare`), resuming, the step loop with its stop conditions (a step budget, a callback
/// returning `.stop`, a stop request such as SIGINT agreed on by every rank), the checkpoint on an early stop, and
/// the loss curve. The `train` command is this type plus printing.
public final class TrainingSession {
    public let run: TrainingRun
    public var trainer: Trainer { run.trainer }
    public var workDir: URL { run.workDir }
    /// Where training continued from, when it did (the checkpoint or work dir, and its iteration).
    public private(set) var resumed: (from: URL, iteration: Int)?
    /// The earlier run's folder while it waits for this run's first checkpoint (`.overwrite`).
    public private(set) var earlierRunAside: URL?
    private let lock: WorkDirLock?

    /// Locks the work dir (rank 0 under `mpirun`), applies `start`, prepares the run and resumes it. Nothing of an
    /// earlier run is touched before the new run has loaded and checked everything (config, data, models).
    public init(
        config: TrainConfig, workDir: URL, root: URL, start: TrainingStart = .fresh,
        onBadSample: BadSamplePolicy = .fail, communicator: any Communicator = SingleProcessCommunicator(),
        log: (String) -> Void = { _ in }
    ) throws {
        let leader = communicator.rank == 0
        lock = leader ? try WorkDirLock(workDir: workDir) : nil
        // Never mix two runs in one work dir: checkpoint rotation would delete the new run's checkpoints in favour
        // of the old run's higher-numbered ones.
        var earlier: EarlierRun? = nil
        if start == .fresh || start == .overwrite, let found = EarlierRun.find(in: workDir) {
            guard start == .overwrite else {
                let last = found.latestIteration.map { " (latest iter_\($0))" } ?? ""
                throw TrainerError.earlierRun(
                    "\(workDir.path) holds an earlier run\(last): pass --resume to continue "
                        + "it, --overwrite to start again, or another --work-dir")
            }
            earlier = found
        }
        run = try TrainingRun.prepare(
            config: config, workDir: workDir, root: root, onBadSample: onBadSample,
            communicator: communicator, log: log)
        // Every rank has looked at the work dir before rank 0 moves the earlier run aside.
        try communicator.barrier()
        if let earlier, leader {
            earlierRunAside = try earlier.setAside()
            log(
                "--overwrite: the earlier run is in \(earlierRunAside?.path ?? "") until this run's first checkpoint is saved"
            )
        }
        try communicator.barrier()
        switch start {
        case .resumeFrom(let url):
            try run.trainer.resume(from: url)
            resumed = (url, run.trainer.iteration)
        case .resume:
            if Trainer.latestCheckpoint(in: workDir) != nil {
                try run.trainer.resume(from: workDir)
                resumed = (workDir, run.trainer.iteration)
            } else {
                log("no checkpoint in \(workDir.path): starting from the beginning")
            }
        case .fresh, .overwrite:
            break
        }
    }

    /// How a call to `train` ended.
    public struct Outcome: Sendable {
        /// Optimizer steps taken by this call.
        public var steps: Int
        /// True when a stop request or the step callback ended it before the schedule's end.
        public var stopped: Bool
        /// The loss curve written at the end (rank 0; nil on the other ranks).
        public var lossCurve: URL?
    }

    /// Steps until the end of the schedule, `maxSteps` more steps, a callback returning `.stop`, or a stop request
    /// (`stopRequested`, e.g. a signal flag; checked before every step and agreed on by every rank, so all stop after
    /// the same step). Checkpoints every `save_steps` as configured and, when it ends early, at the iteration it
    /// reached; then writes the loss curve (rank 0).
    public func train(
        maxSteps: Int? = nil, stopRequested: () -> Bool = { false },
        afterStep: (TrainMetricsRecord) -> TrainingControl = { _ in .proceed }
    ) throws -> Outcome {
        var steps = 0, stopped = false, callbackStop = false
        while !trainer.isFinished, maxSteps.map({ steps < $0 }) ?? true {
            var flag = [stopRequested() || callbackStop ? 1.0 : 0]
            try trainer.communicator.allReduceMax(&flag)
            if flag[0] > 0 { stopped = true; break }
            let records = try trainer.train(maxSteps: 1)
            steps += records.count
            dropEarlierRunOnceSaved()
            if let record = records.last, afterStep(record) == .stop { callbackStop = true }
        }
        if callbackStop && !stopped && !trainer.isFinished { stopped = true }
        // Ended early (a step budget or a stop): save where it stands unless that iteration is saved already.
        if !trainer.isFinished && trainer.iteration > 0 && trainer.lastSavedIteration != trainer.iteration {
            try trainer.saveCheckpoint()
        }
        dropEarlierRunOnceSaved()
        var curve: URL? = nil
        if trainer.communicator.rank == 0 {
            curve = try LossCurve.write(
                trainer.history, title: "\(run.config.name): loss per iteration",
                workDir: workDir)
        }
        return Outcome(steps: steps, stopped: stopped, lossCurve: curve)
    }

    /// Deletes the earlier run once this one has a checkpoint of its own.
    private func dropEarlierRunOnceSaved() {
        guard let folder = earlierRunAside, trainer.lastSavedIteration != nil else { return }
        try? FileManager.default.removeItem(at: folder)
        earlierRunAside = nil
    }

    deinit { withExtendedLifetime(lock) {} }
}
