// MGTrain — everything a `train` command builds from a config: paths resolved, tokenizer, dataset, model (with
// `pretrained_pth` for SFT) and the trainer, plus the start-up summary.
import Foundation

/// A config turned into a ready trainer.
public struct TrainingRun {
    public let config: TrainConfig
    public let root: URL
    public let workDir: URL
    public let tokenizer: Tokenizer
    public let dataset: LLaVADataset
    public let model: MGLLaVAModel
    public let trainer: Trainer
    /// The checkpoint `pretrained_pth` resolved to, and what it loaded.
    public let pretrained: (url: URL, summary: CheckpointLoadSummary)?
    /// Record ids used by more than one record, each once (upstream allows them; boxes are looked up by id, so
    /// such records share one box entry).
    public private(set) var duplicateRecordIDs: [String] = []

    /// A config path: absolute as is, otherwise relative to `root` (the directory the command runs in).
    public static func resolve(_ path: String, root: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
    }

    /// The weights file `pretrained_pth` names: a file as is; an `iter_N` folder's model.safetensors; a work dir's
    /// latest checkpoint's model.safetensors.
    /// `field` names the setting in the error (`pretrained_pth`, `--checkpoint`).
    public static func pretrainedWeights(_ url: URL, field: String = "pretrained_pth") throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TrainerError.invalidConfiguration("\(field) \(url.path) does not exist (not trained yet?)")
        }
        guard isDirectory.boolValue else { return url }
        let direct = url.appendingPathComponent(Trainer.modelFile)
        if FileManager.default.fileExists(atPath: direct.path) { return direct }
        guard let latest = Trainer.latestCheckpoint(in: url) else { throw TrainerError.noCheckpoint(url) }
        return latest.appendingPathComponent(Trainer.modelFile)
    }

    /// Builds the run. `log` receives progress lines (data generation, loading).
    /// Under `mpirun` every rank calls it with the job's `communicator`; rank 0 alone generates the embedded
    /// default's data and models while the others wait.
    public static func prepare(
        config: TrainConfig, workDir: URL, root: URL, onBadSample: BadSamplePolicy = .fail,
        communicator: any Communicator = SingleProcessCommunicator(),
        log: (String) -> Void = { _ in }
    ) throws -> TrainingRun {
        try config.validate()
        if EmbeddedDefault.uses(config) {
            if communicator.rank == 0 { try EmbeddedDefault.ensure(root: root, log: log) }
            try communicator.barrier()
        }
        func path(_ p: String) -> URL { resolve(p, root: root) }
        // Every path the config names is checked before anything is loaded, so a typo costs no loading time.
        try requireExisting(.llmNameOrPath, config.llmNameOrPath, folder: true, root: root)
        try requireExisting(.visualEncoderNameOrPath, config.visualEncoderNameOrPath, folder: true, root: root)
        try requireExisting(.visualEncoderAuxPath, config.visualEncoderAuxPath, folder: true, root: root)
        try requireExisting(.boxJsonPath, config.boxJsonPath, folder: false, root: root)
        try requireExisting(.imageFolder, config.imageFolder, folder: true, root: root)
        if let offline = config.offlineProcessedTextFolder {
            try requireExisting(.offlineProcessedTextFolder, offline, folder: true, root: root)
        } else {
            try requireExisting(.dataPath, config.dataPath, folder: false, root: root)
        }
        if let pth = config.pretrainedPth { _ = try loading(.pretrainedPth, pth) { try pretrainedWeights(path(pth)) } }

        let llmDir = path(config.llmNameOrPath), clipDir = path(config.visualEncoderNameOrPath)
        // An HF folder, or a GGUF (a quantized base under LoRA) whose tokenizer comes from the file.
        let tokenizer = try loading(.llmNameOrPath, config.llmNameOrPath) {
            try Tokenizer.forLLM(llmDir, tokenizer: nil)
        }
        guard let template = PromptTemplate.named(config.promptTemplate) else {
            throw TrainerError.invalidConfiguration(
                "prompt_template \"\(config.promptTemplate)\" is not one of "
                    + PromptTemplate.all.map(\.name).joined(separator: ", "))
        }
        let clipConfig = try loading(.visualEncoderNameOrPath, config.visualEncoderNameOrPath) {
            try CLIPVisionConfiguration.load(clipDir)
        }
        // The one input set-up (as `InferencePipeline` uses), built before the model loads.
        let inputs = InputSettings(
            tokenizer: tokenizer, template: template, clipSize: clipConfig.imageSize, imageSizeAux: config.imageSizeAux,
            padToSquare: config.padImageToSquare, limitNum: config.limitNum, maxLength: config.maxLength)
        let processor = inputs.processor, boxConfig = inputs.boxConfig
        // The box JSON is needed either way (upstream too: the offline folder holds text only).
        let boxes = try loading(.boxJsonPath, config.boxJsonPath) {
            try BoxIndex.load(contentsOf: path(config.boxJsonPath))
        }
        let dataset: LLaVADataset
        let source: URL, records: [LLaVARecord]
        if let offline = config.offlineProcessedTextFolder {
            log("reading the pre-tokenised \(path(offline).path)")
            let cache = try loading(.offlineProcessedTextFolder, offline) {
                try ProcessedTextCache.load(
                    path(offline), template: template, maxLength: config.maxLength,
                    tokenizer: tokenizer)
            }
            source = path(offline)
            records = cache.records
            dataset = try LLaVADataset(
                records: cache.records, encodings: cache.encodings,
                imageFolder: path(config.imageFolder), boxes: boxes, maxLength: config.maxLength,
                processor: processor, boxConfig: boxConfig, onBadSample: onBadSample)
        } else {
            log("reading \(path(config.dataPath).path)")
            source = path(config.dataPath)
            records = try loading(.dataPath, config.dataPath) { try LLaVARecord.load(contentsOf: source) }
            dataset = try LLaVADataset(
                records: records, imageFolder: path(config.imageFolder), boxes: boxes,
                tokenizer: tokenizer, template: template, maxLength: config.maxLength,
                processor: processor, boxConfig: boxConfig, onBadSample: onBadSample)
        }
        guard dataset.count > 0 else {
            throw TrainerError.invalidConfiguration(
                emptyDatasetReport(
                    dataset, records: records.count, source: source,
                    maxLength: config.maxLength))
        }
        let duplicateIDs = LLaVARecord.duplicateIDs(records)

        let model = try MGLLaVAModel.load(
            llm: llmDir, visualEncoder: clipDir,
            visualEncoderAux: path(config.visualEncoderAuxPath),
            seed: UInt64(truncatingIfNeeded: config.seed ?? 0))
        try model.checkImageSizeAux(config.imageSizeAux)
        var pretrained: (URL, CheckpointLoadSummary)? = nil
        if let pth = config.pretrainedPth {
            let url = try pretrainedWeights(path(pth))
            log("loading pretrained_pth \(url.path)")
            pretrained = (url, try loading(.pretrainedPth, pth) { try model.loadCheckpoint(url) })
        }
        let trainer = try Trainer(
            config: config, model: model, dataset: dataset, workDir: workDir,
            communicator: communicator)
        var run = TrainingRun(
            config: config, root: root, workDir: workDir, tokenizer: tokenizer, dataset: dataset,
            model: model, trainer: trainer, pretrained: pretrained)
        run.duplicateRecordIDs = duplicateIDs
        return run
    }

    /// Why no sample is left: the file, the records read, and each group dropped with its reason.
    static func emptyDatasetReport(_ dataset: LLaVADataset, records: Int, source: URL, maxLength: Int) -> String {
        guard records > 0 else { return "the dataset is empty: \(source.path) holds no records" }
        var groups: [String] = []
        let skipped = dataset.skipped
        if !skipped.isEmpty {
            let examples = skipped.prefix(3).map { "\($0.id): \($0.reason)" }.joined(separator: "; ")
            groups.append("\(skipped.count) skipped as bad samples (--on-bad-sample skip), e.g. \(examples)")
        }
        if dataset.droppedUnsupervised > 0 {
            groups.append(
                "\(dataset.droppedUnsupervised) dropped because no answer token is left to learn from after "
                    + "truncation to max_length \(maxLength) (or the record has no gpt turn)")
        }
        return "the dataset is empty: \(records) records read from \(source.path), none usable: "
            + groups.joined(separator: "; ")
    }

    /// Runs `body`, which loads what config field `key` (value `value`) names; an error comes back with the field
    /// in front unless it names the field already.
    static func loading<T>(_ key: TrainConfig.CodingKeys, _ value: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            let text = "\(error)"
            if text.contains(key.rawValue) { throw error }
            throw TrainConfigError.invalidValue(field: key.rawValue, value: "\"\(value)\"", reason: text)
        }
    }

    /// Throws naming `key` unless `value` (resolved against `root`) exists and is a folder or a file as asked.
    static func requireExisting(_ key: TrainConfig.CodingKeys, _ value: String, folder: Bool, root: URL) throws {
        let url = resolve(value, root: root)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let problem: String?
        if !exists {
            problem = "\(url.path) does not exist"
        } else if folder != isDirectory.boolValue {
            problem = folder ? "\(url.path) is a file, not a folder" : "\(url.path) is a folder, not a file"
        } else {
            problem = nil
        }
        if let problem {
            throw TrainConfigError.invalidValue(field: key.rawValue, value: "\"\(value)\"", reason: problem)
        }
    }

    // MARK: - Summary

    /// Parameters by top-level module: (name, trainable, frozen).
    public var parameterTable: [(String, Int, Int)] {
        var rows: [(String, Int, Int)] = []
        for (name, child) in model.children {
            let params = child.parameters()
            rows.append(
                (
                    name, params.filter { !$0.frozen }.reduce(0) { $0 + $1.count },
                    params.filter(\.frozen).reduce(0) { $0 + $1.count }
                ))
        }
        return rows
    }

    /// A rough peak-memory estimate in bytes: stored weights, float32 gradients and two AdamW moments for the
    /// trainable ones, and the activations the LLM keeps for backward (≈ 34·h + 5·heads·L floats per token per
    /// layer, the usual transformer accounting) at the longest sample.
    public var estimatedMemoryBytes: Int {
        // In Double: with `limit_num` and `max_length` at their limits the products pass Int.max.
        let weights = Double(model.parameters().reduce(0) { $0 + $1.count }) * 4
        let trainable = Double(model.trainableParameterCount) * 4 * 3
        let a = model.llm.architecture
        let longest =
            Double(dataset.lengths.max() ?? 0) + Double(model.visualEncoder.architecture.numPatches)
            + Double(config.limitNum)
        let perToken = 34 * Double(a.hiddenSize) + 5 * Double(a.numHeads) * longest
        let activations = Double(trainer.batchSize) * longest * perToken * Double(a.numLayers) * 4
        let total = weights + trainable + activations
        return total < Double(Int.max) ? Int(total) : Int.max
    }

    public var summary: String {
        var lines: [String] = []
        lines.append("config \(config.name) (\(config.stage.rawValue)), work dir \(workDir.path)")
        let table = parameterTable
        let trainable = table.reduce(0) { $0 + $1.1 }, frozen = table.reduce(0) { $0 + $1.2 }
        lines.append("parameters: \(Self.count(trainable)) trainable, \(Self.count(frozen)) frozen")
        for (name, t, f) in table {
            lines.append(
                "  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(t > 0 ? "trainable" : "frozen   ") \(Self.count(t + f))"
            )
        }
        if let pretrained {
            lines.append(
                "pretrained_pth \(pretrained.url.path): \(pretrained.summary.tensorCount) tensors of "
                    + pretrained.summary.loadedPrefixes.joined(separator: ", "))
        }
        let skipped = dataset.skipped.count
        lines.append(
            "samples: \(dataset.count + dataset.droppedUnsupervised + skipped) read, \(dataset.count) used, "
                + "\(skipped) skipped as bad, \(dataset.droppedUnsupervised) dropped with no supervised token")
        for s in dataset.skipped.prefix(5) { lines.append("  skipped \(s.id): \(s.reason)") }
        if !duplicateRecordIDs.isEmpty {
            let shown = duplicateRecordIDs.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
            lines.append(
                "note: \(duplicateRecordIDs.count) record ids are used more than once (e.g. \(shown)); "
                    + "their records share the box entry of that id")
        }
        let ranks = trainer.communicator.size
        lines.append(
            "schedule: \(trainer.totalIterations) iterations (\(trainer.batchesPerEpoch)/epoch × "
                + "\(config.maxEpochs)), batch \(trainer.batchSize)"
                + (trainer.batchSize < config.batchSize
                    ? " (batch_size \(config.batchSize) > the \(dataset.count) samples)" : "")
                + " × accumulation \(config.accumulativeCounts)"
                + (ranks > 1 ? " × \(ranks) ranks (ZeRO stage \(config.zeroStage))" : "")
                + ", lr \(config.lr) warmup \(trainer.schedule.warmupIterations)")
        lines.append(String(format: "estimated peak memory: %.1f MiB", Double(estimatedMemoryBytes) / 1_048_576))
        lines.append(
            String(
                format: "AdamW state on this rank: %.2f MiB (%@)",
                Double(trainer.optimizerStateBytesPerRank) / 1_048_576,
                trainer.communicator.size > 1 && config.zeroStage == 1
                    ? "1/\(trainer.communicator.size) of it, ZeRO stage 1" : "all of it"))
        return lines.joined(separator: "\n")
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000
            ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fK", Double(n) / 1e3) : "\(n)"
    }
}
