// MGTrain — the training loop (DESIGN §6, SPEC §3.4 and §5). A plain loop: no hooks, no runner framework.
import Foundation
@_exported import MGDistributed

/// Why a trainer cannot be built, stepped or resumed.
public enum TrainerError: Error, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// A checkpoint folder without a complete `trainer_state.json` (a torn write, or not a checkpoint at all).
    case incompleteCheckpoint(URL, String)
    /// The checkpoint was written under a config that trains differently (batch size, schedule, stage…).
    case configMismatch(String)
    case noCheckpoint(URL)
    /// Training diverged: non-finite losses or gradients for too many steps in a row, or non-finite weights at a
    /// checkpoint (which is then not written).
    case diverged(String)
    /// A file of the run could not be written (disk full, read-only, removed work dir…): path and reason.
    case writeFailed(String, String)
    /// The work dir holds another run and the session was asked for a fresh one.
    case earlierRun(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): return "invalid training configuration: \(reason)"
        case .incompleteCheckpoint(let url, let reason):
            return "\(url.path) is not a complete checkpoint: \(reason)"
        case .configMismatch(let reason): return "checkpoint config does not match this run: \(reason)"
        case .noCheckpoint(let url): return "no checkpoint in \(url.path)"
        case .diverged(let reason): return "training diverged: \(reason)"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        case .earlierRun(let message): return message
        }
    }
}

/// Trains an `MGLLaVAModel` on an `LLaVADataset` as upstream's XTuner/mmengine loop does.
///
/// Vocabulary follows mmengine: an *iteration* is one micro-batch (`batch_size` samples); an *optimizer step*
/// happens every `accumulative_counts` iterations (and at the last iteration). The lr schedule is indexed by
/// iteration over N = batchesPerEpoch × maxEpochs iterations, the step uses the lr of its last iteration, and
/// checkpoints are named `iter_<iterations done>`. With `accumulative_counts = 1` (every MG-LLaVA config)
/// iterations and optimizer steps coincide.
///
/// Data parallelism (`mpirun -np N`, docs/distributed.md): every rank walks the same global micro-batch stream
/// and loads every N-th micro-batch; an optimizer step covers N × `accumulative_counts` micro-batches, whose
/// gradients are summed over the ranks. `iteration` counts global micro-batches, so a run on N ranks is exactly
/// one process with N × the accumulation, and its checkpoints resume on any number of ranks. Rank 0 alone writes
/// metrics and checkpoints.
public final class Trainer {
    public let config: TrainConfig
    public let model: MGLLaVAModel
    public let dataset: LLaVADataset
    public let workDir: URL
    public let optimizer: AdamW
    /// The ranks training together (a group of one outside `mpirun`).
    public let communicator: any Communicator
    /// ZeRO stage 1 (`zero_stage = 1`): the optimizer state split over the ranks; nil for replicated AdamW.
    let sharded: ShardedAdamW?
    public let schedule: WarmupCosineSchedule
    /// Micro-batch iterations per epoch.
    public let batchesPerEpoch: Int
    /// Samples per micro-batch: `batch_size`, or the dataset's size when that is smaller (a batch larger than the
    /// data would only repeat samples, as the length-grouped sampler pads every epoch to whole batches).
    public let batchSize: Int
    /// The most micro-batch iterations a run may have: the lr schedule is a table of this many values (mmengine's
    /// recursive cosine form is reproduced step by step), so a typo in `max_epochs` must not size it.
    public static let maximumIterations = 10_000_000
    /// N: micro-batch iterations of the whole run.
    public var totalIterations: Int { schedule.iterations }

    /// Iterations done (the next iteration's 0-based index).
    public private(set) var iteration = 0
    /// Optimizer steps done.
    public private(set) var optimizerSteps = 0
    /// The iteration of the checkpoint saved or resumed from last (nil before any).
    public internal(set) var lastSavedIteration: Int?
    /// Every step's record so far (saved in checkpoints so a resumed run keeps its history).
    public private(set) var history: [TrainMetricsRecord] = []
    /// Called after every optimizer step.
    public var onProgress: ((TrainProgress) -> Void)?
    /// Optimizer steps in a row with a non-finite loss or gradient norm (each one's update is skipped) after which
    /// `step` throws `TrainerError.diverged` instead of going on.
    public var maxConsecutiveNonFiniteSteps = 3
    /// The current run of such steps.
    public private(set) var consecutiveNonFiniteSteps = 0

    var batcher: Batcher<TrainSampler>
    /// Trainer-owned randomness (seeded from the config). Nothing in the loop draws from it yet (dropout is 0
    /// in every config); it is saved and restored so a future consumer keeps resume exact.
    var generator: Generator
    let metricsLog: MetricsLog
    /// Wall-clock accounting for tokens/s and ETA, this process only.
    private var clockStart: Date?
    private var clockIterations = 0
    private var clockTokens = 0

    public var isFinished: Bool { iteration >= totalIterations }
    public var cursor: BatchCursor { batcher.cursor }

    /// Sets the stage's freezing (SPEC §3.4) on `model` and builds the optimizer over what stays trainable.
    /// - Parameter dataset: already encoded with the config's template, `max_length` and image sizes.
    public init(
        config: TrainConfig, model: MGLLaVAModel, dataset: LLaVADataset, workDir: URL,
        communicator: any Communicator = SingleProcessCommunicator()
    ) throws {
        // One set of rules for every way in (CLI, config files, library callers): `TrainConfig.validate`.
        try config.validate()

        self.config = config
        self.model = model
        self.dataset = dataset
        self.workDir = workDir
        self.communicator = communicator
        let seed = UInt64(truncatingIfNeeded: config.seed ?? 0)
        guard dataset.count > 0 else { throw TrainerError.invalidConfiguration("the dataset has no usable sample") }
        batchSize = min(config.batchSize, dataset.count)
        let sampler: TrainSampler
        switch config.sampler {
        case .random: sampler = .random(RandomSampler(size: dataset.count, seed: seed))
        case .lengthGrouped:
            sampler = .lengthGrouped(
                try LengthGroupedSampler(
                    lengths: dataset.modalityLengths,
                    perDeviceBatchSize: batchSize, seed: seed))
        }
        // mmengine's DataLoader keeps the short last batch (drop_last=False).
        batcher = try Batcher(sampler: sampler, batchSize: batchSize)
        batchesPerEpoch = batcher.batchesPerEpoch
        let (n, overflow) = batchesPerEpoch.multipliedReportingOverflow(by: config.maxEpochs)
        guard !overflow, n <= Self.maximumIterations else {
            throw TrainerError.invalidConfiguration(
                "max_epochs \(config.maxEpochs) × \(batchesPerEpoch) batches per "
                    + "epoch (\(dataset.count) samples, batch_size \(batchSize)) exceeds the limit of "
                    + "\(Self.maximumIterations) iterations; lower max_epochs or raise batch_size")
        }
        // mmengine's build_iter_from_epoch: W = int(warmup_ratio · max_epochs · len(dataloader)).
        let warmup = min(n, Int(config.warmupRatio * Double(config.maxEpochs) * Double(batchesPerEpoch)))
        schedule = WarmupCosineSchedule(baseLR: config.lr, iterations: n, warmupIterations: warmup)
        generator = Generator(seed: seed)

        // SPEC §3.4: towers always frozen (the model's init already froze them; repeat so a caller's unfreeze
        // cannot leak in), LLM frozen in pretraining, fully trained in SFT; the MG-LLaVA modules always trained.
        model.visualEncoder.freeze()
        model.visualEncoderAux.freeze()
        for prefix in ["fuse_module", "projector", "bbox_projector"] { model.unfreeze(prefix: prefix) }
        if config.freezeLLM { model.freeze(prefix: "llm") } else { model.unfreeze(prefix: "llm") }
        // XTuner's `llm_lora`: adapters on the LLM, whose own weights freeze (as PEFT's get_peft_model does).
        // The adapters' A are drawn from the run's seed, so a resumed run rebuilds them before loading the saved
        // ones and a new run is reproducible.
        if let lora = config.llmLoRA, !model.llm.namedParameters().contains(where: { $0.0.contains(".lora_") }) {
            var loraGenerator = Generator(seed: seed ^ 0x4C6F_5241)
            do {
                try model.llm.attachLoRA(lora, generator: &loraGenerator)
            } catch let error as LoRAError {
                throw TrainerError.invalidConfiguration("llm_lora: \(error.description)")
            }
        }
        if let lora = config.llmLoRA {
            do {
                try model.llm.trainModulesToSave(lora)
            } catch let error as LoRAError {
                throw TrainerError.invalidConfiguration("llm_lora: \(error.description)")
            }
        }
        // XTuner's `visual_encoder_lora`: adapters on CLIP (the towers stay frozen under them), from their own seed.
        if let lora = config.visualEncoderLoRA {
            do {
                if !model.visualEncoder.namedParameters().contains(where: { $0.0.contains(".lora_") }) {
                    var generator = Generator(seed: seed ^ 0x5649_4C52)
                    try model.visualEncoder.attachLoRA(lora, generator: &generator)
                }
                try model.visualEncoder.trainModulesToSave(lora)
            } catch let error as LoRAError {
                throw TrainerError.invalidConfiguration("visual_encoder_lora: \(error.description)")
            }
        }
        model.train()
        model.llm.gradientCheckpointing = config.useActivationCheckpointing ?? true

        // One parameter group, as upstream (weight decay 0 in every config anyway).
        optimizer = AdamW(
            model.namedParameters().filter { !$0.1.frozen }, lr: config.lr,
            betas: (config.betas[0], config.betas[1]), weightDecay: config.weightDecay)
        sharded =
            config.zeroStage == 1
            ? ShardedAdamW(
                optimizer: optimizer, communicator: communicator,
                bucketBytes: config.reduceBucketSize.map { max(1, $0) * 4 }
                    ?? defaultGradientBucketBytes) : nil
        if communicator.rank == 0 {
            try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        }
        metricsLog = MetricsLog(url: workDir.appendingPathComponent("metrics.jsonl"), enabled: communicator.rank == 0)
        if communicator.size > 1 { try checkReplicasAgree() }
    }

    /// True on the rank that logs and writes checkpoints (rank 0).
    public var isLeader: Bool { communicator.rank == 0 }

    /// Bytes of AdamW moments this rank holds once every trainable parameter has had a step: two float32 values
    /// per parameter, or per element of this rank's slice under ZeRO stage 1.
    public var optimizerStateBytesPerRank: Int {
        8 * (sharded?.shardSize ?? optimizer.entries.reduce(0) { $0 + $1.parameter.count })
    }

    /// Global micro-batches per optimizer step: ranks × `accumulative_counts`.
    public var microBatchesPerStep: Int { communicator.size * config.accumulativeCounts }

    // MARK: - The loop

    /// Runs until the end of training (or `maxSteps` more optimizer steps), checkpointing every `save_steps`
    /// iterations and at the end.
    @discardableResult
    public func train(maxSteps: Int? = nil) throws -> [TrainMetricsRecord] {
        // Training frees and reallocates gigabytes of activations and gradients per step: keep more of them mapped
        // while it runs, and go back to the previous size (unmapping the surplus) when it returns.
        let poolCapacity = LargeAllocationPool.capacity
        LargeAllocationPool.capacity = max(poolCapacity, LargeAllocationPool.trainingCapacity)
        defer { LargeAllocationPool.capacity = poolCapacity }
        var records: [TrainMetricsRecord] = []
        while !isFinished, maxSteps.map({ records.count < $0 }) ?? true {
            let before = iteration
            guard let record = try step() else { break }
            records.append(record)
            // mmengine's CheckpointHook fires on iteration multiples of the interval; with accumulation a
            // multiple can fall inside a step, so save at the step that crosses it (no mid-step state to save).
            // save_steps counts each rank's iterations, as mmengine does: ranks × save_steps global micro-batches.
            let interval = config.saveSteps * communicator.size
            if iteration / interval > before / interval || isFinished {
                try saveCheckpoint()
            }
        }
        return records
    }

    /// One optimizer step: ranks × `accumulative_counts` global micro-batches (fewer at the end of training), this
    /// rank's share of them forward and backward, each loss scaled as mmengine's `OptimWrapper.scale_loss`; then
    /// the gradients summed over the ranks, clip, set the lr, update.
    /// Returns nil when training is already finished. Does not checkpoint (see `train`).
    @discardableResult
    public func step() throws -> TrainMetricsRecord? {
        try step(drawing: communicator.size == 1 ? nextSamples : nextSamplesDroppingBad)
    }

    /// `step()` with the micro-batches drawn from `next` instead of the dataset (for checks on fixed batches).
    func step(drawing next: () throws -> [MultimodalSample]) throws -> TrainMetricsRecord? {
        guard !isFinished else { return nil }
        if clockStart == nil { clockStart = Date() }
        let k = microBatchesPerStep
        // mmengine divides by accumulative_counts, except in the trailing window that the run's end cuts short,
        // where it divides by that window's length (`_remainder_iters`). Windows count global micro-batches.
        let windowStart = iteration / k * k
        let windowLength = min(k, totalIterations - windowStart)
        let count = windowStart + windowLength - iteration
        optimizer.zeroGrad()
        var lossSum = 0.0, tokens = 0
        for _ in 0..<count {
            // Global micro-batch `iteration` belongs to rank iteration mod N; the others only advance the stream.
            guard iteration % communicator.size == communicator.rank else {
                _ = batcher.nextBatch()
                iteration += 1
                continue
            }
            let samples = try next()
            iteration += 1
            guard !samples.isEmpty else { continue }
            let out = model(samples)
            let loss = out.loss
            lossSum += Double(loss.item())
            tokens += out.inputs.attentionMask.reduce(0) { $0 + $1.reduce(0, +) }
            (loss * Float(1.0 / Double(windowLength))).backward()
        }
        let lr = schedule.lr(at: iteration - 1)
        optimizer.lr = lr
        let gradNorm: Float
        if communicator.size > 1 {
            var totals = [lossSum, Double(tokens)]
            try communicator.allReduceSum(&totals)
            lossSum = totals[0]
            tokens = Int(totals[1])
        }
        if let sharded {
            gradNorm = try sharded.step(lr: lr, maxNorm: Float(config.maxNorm), used: try usedOnAnyRank())
        } else {
            if communicator.size > 1 { try allReduceGradients() }
            let trainable = optimizer.entries.map(\.parameter)
            gradNorm = clipGradNorm(trainable, maxNorm: Float(config.maxNorm))
            // A non-finite norm would turn every weight into NaN (clipping multiplies by NaN); skip the update,
            // as a loss scaler does on overflow, and keep the NaN in the log so it is seen.
            if gradNorm.isFinite { optimizer.step() }
        }
        optimizer.zeroGrad()
        optimizerSteps += 1

        let record = TrainMetricsRecord(
            iteration: iteration, step: optimizerSteps, epoch: batcher.cursor.epoch,
            loss: lossSum / Double(count), lr: lr, gradNorm: Double(gradNorm),
            tokens: tokens)
        history.append(record)
        try metricsLog.append(record)
        report(record, iterations: count)
        if record.loss.isFinite && record.gradNorm.isFinite {
            consecutiveNonFiniteSteps = 0
        } else {
            consecutiveNonFiniteSteps += 1
            if consecutiveNonFiniteSteps >= maxConsecutiveNonFiniteSteps {
                let saved =
                    lastSavedIteration.map { "the last checkpoint is iter_\($0)" } ?? "no checkpoint was written"
                throw TrainerError.diverged(
                    "loss \(record.loss), grad norm \(record.gradNorm) for "
                        + "\(consecutiveNonFiniteSteps) steps in a row (up to iteration \(iteration), lr \(lr)); their updates "
                        + "were skipped and \(saved). Lower lr (or max_norm), or look for a bad sample near these iterations"
                )
            }
        }
        return record
    }

    /// The next micro-batch, replacing samples the dataset skips (`onBadSample: .skip`) with further indices so
    /// the batch keeps its size and the index stream stays a pure function of the cursor.
    func nextSamples() throws -> [MultimodalSample] {
        var samples: [MultimodalSample] = []
        for index in batcher.nextBatch() {
            if let sample = try dataset.sample(at: index) { samples.append(sample); continue }
            var replaced = false
            for _ in 0..<dataset.count {
                if let sample = try dataset.sample(at: batcher.nextIndex()) {
                    samples.append(sample)
                    replaced = true
                    break
                }
            }
            if !replaced { throw TrainerError.invalidConfiguration("every sample of the dataset was skipped") }
        }
        return samples
    }

    /// The next micro-batch under data parallelism: a bad sample (`onBadSample: .skip`) is dropped from its
    /// micro-batch instead of replaced, since a replacement would advance this rank's index stream alone.
    func nextSamplesDroppingBad() throws -> [MultimodalSample] {
        try batcher.nextBatch().compactMap { try dataset.sample(at: $0) }
    }

    private func report(_ record: TrainMetricsRecord, iterations: Int) {
        clockIterations += iterations
        clockTokens += record.tokens
        guard let onProgress else { return }
        let elapsed = max(Date().timeIntervalSince(clockStart ?? Date()), 1e-9)
        let perIteration = elapsed / Double(max(clockIterations, 1))
        onProgress(
            TrainProgress(
                record: record, totalIterations: totalIterations,
                tokensPerSecond: Double(clockTokens) / elapsed,
                etaSeconds: perIteration * Double(totalIterations - iteration)))
    }

    // MARK: - State used by checkpoints

    /// Puts the loop back at a saved position (weights and optimizer moments are restored by the caller).
    func restore(
        iteration: Int, optimizerSteps: Int, cursor: BatchCursor, generator: Generator,
        history: [TrainMetricsRecord]
    ) throws {
        batcher = try Batcher(sampler: batcher.sampler, batchSize: batchSize, cursor: cursor)
        self.iteration = iteration
        self.optimizerSteps = optimizerSteps
        lastSavedIteration = iteration
        self.generator = generator
        self.history = history
        try metricsLog.rewrite(history)
        clockStart = nil
        clockIterations = 0
        clockTokens = 0
    }
}
