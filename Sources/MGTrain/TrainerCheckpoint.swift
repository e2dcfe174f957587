// MGTrain — our training checkpoints (DESIGN §4): `iter_N/` with model.safetensors (trained modules, upstream
// keys), optimizer.safetensors (AdamW moments) and trainer_state.json; `latest` names the newest.
import Foundation

/// `trainer_state.json`: everything besides tensors that an exact resume needs.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Bumped when the layout changes incompatibly.
    public static let currentFormat = 1
    public var format: Int
    public var iteration: Int
    public var optimizerSteps: Int
    /// AdamW's per-parameter step counts (its moments are in optimizer.safetensors).
    public var parameterSteps: [String: Int]
    public var cursor: BatchCursor
    public var generator: Generator
    public var config: TrainConfig
    public var history: [TrainMetricsRecord]
    /// Ranks the run had when it saved (1 for checkpoints written before data parallelism existed).
    public var worldSize: Int
    /// The LoRA adapters' dropout generators by `Module.loraDropouts()` key (empty without LoRA dropout, and in
    /// checkpoints written before it was saved).
    public var dropoutGenerators: [String: Generator] = [:]

    enum CodingKeys: String, CodingKey {
        case format, iteration, cursor, generator, config, history
        case worldSize = "world_size"
        case dropoutGenerators = "dropout_generators"
        case optimizerSteps = "optimizer_steps"
        case parameterSteps = "parameter_steps"
    }
}

extension TrainerState {
    /// Decodes the saved config over today's defaults, so a checkpoint written before a config field existed
    /// (`zero_stage`, …) still resumes, with that field at its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var fields = try TrainConfig().jsonObject()
        for (key, value) in try c.decode([String: ConfigJSONValue].self, forKey: .config) { fields[key] = value }
        self.init(
            format: try c.decode(Int.self, forKey: .format), iteration: try c.decode(Int.self, forKey: .iteration),
            optimizerSteps: try c.decode(Int.self, forKey: .optimizerSteps),
            parameterSteps: try c.decode([String: Int].self, forKey: .parameterSteps),
            cursor: try c.decode(BatchCursor.self, forKey: .cursor),
            generator: try c.decode(Generator.self, forKey: .generator),
            config: try TrainConfig.decode(jsonObject: fields),
            history: try c.decode([TrainMetricsRecord].self, forKey: .history),
            worldSize: try c.decodeIfPresent(Int.self, forKey: .worldSize) ?? 1)
        dropoutGenerators = try c.decodeIfPresent([String: Generator].self, forKey: .dropoutGenerators) ?? [:]
    }
}

extension Trainer {
    public static let modelFile = "model.safetensors"
    public static let optimizerFile = "optimizer.safetensors"
    public static let stateFile = "trainer_state.json"
    public static let latestFile = "latest"
    static let folderPrefix = "iter_"

    /// Writes `iter_<iteration>/` into the work dir, points `latest` at it and drops the oldest checkpoints beyond
    /// `save_total_limit`.
    ///
    /// Every file is written to a temp name and renamed; the files go into a hidden temp folder that is renamed
    /// to `iter_N` last, so a folder named `iter_N` is always complete, and `latest` is replaced atomically after.
    ///
    /// Under data parallelism every rank calls it (a sharded optimizer state is gathered first); rank 0 writes,
    /// and the others wait until the checkpoint is complete.
    @discardableResult
    public func saveCheckpoint() throws -> URL {
        let name = Self.folderPrefix + String(iteration)
        let final = workDir.appendingPathComponent(name)
        let optimizerState = try sharded?.exportState() ?? optimizer.exportState()
        // A checkpoint is something to resume from: one with NaN or infinite weights or moments is worth nothing
        // and would replace (through rotation) the good ones before it.
        for (key, parameter) in model.namedParameters() where !parameter.frozen {
            if let bad = parameter.value.firstNonFiniteIndex {
                throw TrainerError.diverged(
                    "not writing iter_\(iteration): weight \(key) holds "
                        + "\(parameter.value.toArray()[bad]) at element \(bad) (lr \(optimizer.lr)); "
                        + (lastSavedIteration.map { "the last checkpoint is iter_\($0)" } ?? "no checkpoint was written")
                )
            }
        }
        for (key, tensor) in optimizerState.tensors where tensor.firstNonFiniteIndex != nil {
            throw TrainerError.diverged(
                "not writing iter_\(iteration): optimizer state \(key) is not finite (lr "
                    + "\(optimizer.lr)); "
                    + (lastSavedIteration.map { "the last checkpoint is iter_\($0)" } ?? "no checkpoint was written"))
        }
        if isLeader { try writeCheckpoint(name: name, to: final, optimizerState: optimizerState) }
        try communicator.barrier()
        lastSavedIteration = iteration
        return final
    }

    private func writeCheckpoint(name: String, to final: URL, optimizerState: AdamW.State) throws {
        let fm = FileManager.default
        let temp = workDir.appendingPathComponent(".\(name).tmp-\(UUID().uuidString)")
        try fm.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
            // Trained weights only, copied: they must not change under the writer, and the frozen towers/LLM
            // come from their own checkpoints (upstream's .pth holds the same modules).
            var weights: [String: Tensor] = [:]
            for (key, parameter) in model.namedParameters() where !parameter.frozen {
                weights[key] = parameter.value.copy()
            }
            try SafeTensorsWriter.write(
                weights, metadata: ["format": "mgllava-train", "iteration": "\(iteration)"],
                to: temp.appendingPathComponent(Self.modelFile))
            try SafeTensorsWriter.write(
                optimizerState.tensors, metadata: ["format": "mgllava-adamw"],
                to: temp.appendingPathComponent(Self.optimizerFile))
            let state = TrainerState(
                format: TrainerState.currentFormat, iteration: iteration,
                optimizerSteps: optimizerSteps, parameterSteps: optimizerState.steps,
                cursor: batcher.cursor, generator: generator, config: config, history: history,
                worldSize: communicator.size,
                dropoutGenerators: Dictionary(
                    model.loraDropouts().map { ($0.0, $0.1.generator) }, uniquingKeysWith: { a, _ in a }))
            try TrainJSON.encoder(pretty: true).encode(state)
                .write(to: temp.appendingPathComponent(Self.stateFile), options: .atomic)
            // A re-run over an existing iteration (after a resume from an older checkpoint) replaces it.
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            try fm.moveItem(at: temp, to: final)
        } catch {
            try? fm.removeItem(at: temp)
            throw TrainerError.writeFailed(
                final.path,
                DataError.plainReason(error)
                    + " (the checkpoints before it are untouched)")
        }
        let latest = workDir.appendingPathComponent(Self.latestFile)
        do { try Data((name + "\n").utf8).write(to: latest, options: .atomic) } catch {
            throw TrainerError.writeFailed(latest.path, DataError.plainReason(error))
        }
        try rotateCheckpoints()
    }

    /// Complete checkpoints in `workDir` (folders `iter_N` holding trainer_state.json), oldest first.
    public static func checkpoints(in workDir: URL) -> [(iteration: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workDir.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix(folderPrefix), let n = Int(name.dropFirst(folderPrefix.count)) else { return nil }
            let url = workDir.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFile).path) else { return nil }
            return (n, url)
        }.sorted { $0.0 < $1.0 }.map { (iteration: $0.0, url: $0.1) }
    }

    /// The checkpoint `latest` names, or else the newest complete one; nil when there is none.
    public static func latestCheckpoint(in workDir: URL) -> URL? {
        if let text = try? String(contentsOf: workDir.appendingPathComponent(latestFile), encoding: .utf8) {
            let url = workDir.appendingPathComponent(text.trimmingCharacters(in: .whitespacesAndNewlines))
            if FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFile).path) { return url }
        }
        return checkpoints(in: workDir).last?.url
    }

    /// mmengine's `max_keep_ckpts`: keep the newest `save_total_limit` (all when -1). Leftover temp folders of an
    /// interrupted save are removed too.
    func rotateCheckpoints() throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: workDir.path)) ?? []
        where name.hasPrefix("." + Self.folderPrefix) && name.contains(".tmp-") {
            try? fm.removeItem(at: workDir.appendingPathComponent(name))
        }
        guard config.saveTotalLimit > 0 else { return }
        let all = Self.checkpoints(in: workDir)
        for old in all.dropLast(config.saveTotalLimit) { try fm.removeItem(at: old.url) }
    }

    /// Restores weights, optimizer moments and step counts, the data cursor, the generator, the iteration (the
    /// schedule is a pure function of it) and the metrics history from a checkpoint folder — or from a work dir,
    /// taking its latest checkpoint. Continuing then reproduces the uninterrupted run step for step.
    ///
    /// Refuses a folder without trainer_state.json (a torn or foreign folder) and a checkpoint whose config
    /// trains differently; nothing is changed when it throws before loading weights.
    public func resume(from url: URL) throws {
        let fm = FileManager.default
        var folder = url
        if !fm.fileExists(atPath: url.appendingPathComponent(Self.stateFile).path),
            fm.fileExists(atPath: url.appendingPathComponent(Self.latestFile).path)
                || !Self.checkpoints(in: url).isEmpty
        {
            guard let latest = Self.latestCheckpoint(in: url) else { throw TrainerError.noCheckpoint(url) }
            folder = latest
        }
        let stateURL = folder.appendingPathComponent(Self.stateFile)
        guard fm.fileExists(atPath: stateURL.path) else {
            throw TrainerError.incompleteCheckpoint(folder, "\(Self.stateFile) is missing")
        }
        let state: TrainerState
        do {
            state = try TrainJSON.decoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw TrainerError.incompleteCheckpoint(folder, "\(Self.stateFile) is unreadable: \(error)")
        }
        guard state.format == TrainerState.currentFormat else {
            throw TrainerError.incompleteCheckpoint(
                folder, "format \(state.format), expected \(TrainerState.currentFormat)")
        }
        for file in [Self.modelFile, Self.optimizerFile]
        where !fm.fileExists(atPath: folder.appendingPathComponent(file).path) {
            throw TrainerError.incompleteCheckpoint(folder, "\(file) is missing")
        }
        try checkCompatible(state.config, savedWorldSize: state.worldSize)
        guard state.iteration <= totalIterations else {
            throw TrainerError.configMismatch(
                "checkpoint at iteration \(state.iteration) of a \(totalIterations)-iteration run")
        }

        let weights = try SafeTensorsFile(url: folder.appendingPathComponent(Self.optimizerFile))
        let moments = try weights.loadAll(copy: true)
        // Check the optimizer state against this model before touching any weight.
        let optimizerState = AdamW.State(tensors: moments, steps: state.parameterSteps)
        let source = folder.appendingPathComponent(Self.optimizerFile).path
        if let sharded {
            try sharded.importState(optimizerState, source: source)
        } else {
            try optimizer.importState(optimizerState, source: source)
        }
        try model.loadCheckpoint(folder.appendingPathComponent(Self.modelFile))
        for (key, dropout) in model.loraDropouts() {
            if let saved = state.dropoutGenerators[key] { dropout.generator = saved }
        }
        try restore(
            iteration: state.iteration, optimizerSteps: state.optimizerSteps, cursor: state.cursor,
            generator: state.generator, history: state.history)
    }

    /// The saved config must train the same way: everything but the checkpointing knobs and the descriptive
    /// fields that do not affect the numbers. Ranks × `accumulative_counts` (micro-batches per optimizer step)
    /// is what must match, so a run saved on 2 ranks resumes on 1 with the accumulation doubled.
    func checkCompatible(_ saved: TrainConfig, savedWorldSize: Int = 1) throws {
        func normalised(_ c: TrainConfig, ranks: Int) -> TrainConfig {
            c.with {
                $0.accumulativeCounts *= ranks
                $0.saveSteps = 1
                $0.saveTotalLimit = -1
                $0.evaluationFreq = 1
                $0.dataloaderNumWorkers = 0
                $0.pinMemory = false
                $0.useActivationCheckpointing = nil
                $0.zeroStage = 0
                $0.reduceBucketSize = nil
                $0.name = ""
            }
        }
        let ours = normalised(config, ranks: communicator.size), theirs = normalised(saved, ranks: savedWorldSize)
        guard ours != theirs else { return }
        let mine = (try? TrainJSON.encoder().encode(ours)) ?? Data()
        let other = (try? TrainJSON.encoder().encode(theirs)) ?? Data()
        let a = (try? JSONSerialization.jsonObject(with: mine)) as? [String: Any] ?? [:]
        let b = (try? JSONSerialization.jsonObject(with: other)) as? [String: Any] ?? [:]
        let differing = Set(a.keys).union(b.keys).filter { key in
            !((a[key] as? NSObject)?.isEqual(b[key]) ?? (b[key] == nil))
        }.sorted()
        let detail =
            differing == ["accumulative_counts"]
            ? " (ranks × accumulative_counts: \(savedWorldSize) × \(saved.accumulativeCounts) saved, "
                + "\(communicator.size) × \(config.accumulativeCounts) now)" : ""
        throw TrainerError.configMismatch("differs in " + differing.joined(separator: ", ") + detail)
    }
}
