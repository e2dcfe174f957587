import ArgumentParser
import Foundation
import MGConfigs
import MGEval
import MGTrain

/// `mgllava eval …`: the benchmarks of SPEC §6. With no flags, `eval mmbench` scores the embedded default's SFT
/// result on the synthetic MMBench-format dev TSV (circular evaluation).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained MG-LLaVA on a benchmark, or re-score saved predictions.",
        subcommands: [MMBench.self, EvalPOPECommand.self, EvalTextVQACommand.self, EvalGQACommand.self, EvalVQAv2Command.self, EvalMMECommand.self, Score.self])

    struct MMBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mmbench",
            abstract: "Multiple-choice TSV (MMBench, SEED, SQA, AI2D, MMStar, MMMU) with circular evaluation, as upstream scores it.")

        @OptionGroup var model: EvalModelOptions

        @Option(help: "The TSV (default: the config's val_dataset when it is a .tsv path).")
        var data: String?

        @Option(help: "Eval box JSON keyed by row index (default: <tsv name>_boxes.json next to the TSV, if present).")
        var boxJson: String?

        func run() throws {
            let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let cfg = try model.resolvedConfig()
            func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
            guard let tsvPath = data ?? cfg.valDataset.flatMap({ $0.hasSuffix(".tsv") ? $0 : nil }) else {
                throw UnknownConfig(message: "config \(cfg.name) names no TSV (val_dataset \(cfg.valDataset ?? "null")): pass --data FILE.tsv")
            }
            let started = Date()
            let dataset = try MultipleChoiceDataset.load(path(tsvPath))
            var boxURL = boxJson.map(path)
            if boxURL == nil {
                let guess = dataset.url.deletingLastPathComponent().appendingPathComponent(dataset.name + "_boxes.json")
                if FileManager.default.fileExists(atPath: guess.path) { boxURL = guess }
            }
            let boxes = try boxURL.map { try BoxIndex.load(contentsOf: $0) }
            if boxURL == nil { print("no box JSON: every image gets the dummy box, as upstream without detections") }
            let prepared = try model.prepare(cfg, boxes: boxes, root: root)
            let evaluator = MultipleChoiceEvaluator(pipeline: prepared.pipeline, boxes: boxes,
                                                    maxNewTokens: prepared.maxNewTokens)
            let out = prepared.workDir
            let limit = model.limit

            // Predictions go to disk as they come; a rerun with the same settings continues from them.
            let log = try prepared.openLog(for: dataset.url, name: dataset.name)

            let progress = RowProgress()
            var predictions = try evaluator.predictAll(dataset, limit: limit, log: log) { progress.update($0, $1) }
            var scored = dataset
            if let limit, limit < dataset.rows.count {
                // Score the evaluated rows only: a circular group cut by the limit is dropped whole.
                let kept = Set(predictions.keys)
                let groups = Dictionary(grouping: dataset.rows, by: { $0.index % 1_000_000 })
                let complete = groups.filter { $0.value.allSatisfy { kept.contains($0.index) } }
                let rows = dataset.rows.filter { complete[$0.index % 1_000_000] != nil }
                guard !rows.isEmpty else {
                    print("the first \(limit) rows hold no complete circular group: nothing to score yet "
                          + "(predictions kept in \(log.url.path); run again without --limit to finish)")
                    return
                }
                scored = MultipleChoiceDataset(url: dataset.url, rows: rows, split: dataset.split,
                                               hasL2Category: dataset.hasL2Category)
                predictions = predictions.filter { complete[$0.key % 1_000_000] != nil }
            }
            let skipped = log.skipped.filter { predictions[$0.index] != nil }
            if !skipped.isEmpty {
                print("\(skipped.count) rows skipped (scored as wrong):")
                for entry in skipped.prefix(10) { print("  \(entry.skipped ?? "index \(entry.index)")") }
            }
            try report(scored, predictions: predictions, workDir: out, extra: [log.url])
            print(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
        }
    }

    /// `mgllava eval score mmbench --data TSV --predictions FILE`: upstream's scoring on saved predictions.
    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-score saved predictions without a model.",
            subcommands: [ScoreMMBench.self])
    }

    struct ScoreMMBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mmbench",
            abstract: "Score {index, prediction} JSON lines against a multiple-choice TSV (circular evaluation).")

        @Option(help: "The TSV.")
        var data: String

        @Option(help: "Predictions: JSON lines with index and prediction (e.g. <name>-predictions.jsonl).")
        var predictions: String

        @Option(help: "Where the results go (default: the predictions file's folder).")
        var workDir: String?

        func run() throws {
            let dataset = try MultipleChoiceDataset.load(URL(fileURLWithPath: data))
            let predictionsURL = URL(fileURLWithPath: predictions)
            let loaded = try PredictionLog.readPredictions(predictionsURL)
            let out = workDir.map { URL(fileURLWithPath: $0) } ?? predictionsURL.deletingLastPathComponent()
            try report(dataset, predictions: loaded, workDir: out, extra: [])
        }
    }

    /// Scores, writes the results files, prints the table and where everything went.
    static func report(_ dataset: MultipleChoiceDataset, predictions: [Int: String], workDir: URL, extra: [URL]) throws {
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions)
        let files = try MultipleChoiceResults.write(dataset: dataset, scores: scores, to: workDir)
        if dataset.split == "test" {
            print("\(dataset.name) is a test split (no answers): \(files.xlsx.path) is the file to submit to the "
                  + "official evaluation server; no local score (upstream reports Average 0)")
        } else {
            print(scores.table(title: "\(dataset.name) (\(dataset.split), \(dataset.rows.count) rows)"))
        }
        for warning in scores.warnings { print("note: \(warning)") }
        print("outputs:")
        for file in files.all + extra { print("  results     \(file.path)") }
    }
}

/// The model side of every `eval` command: which config, which weights, generation settings, where results go.
struct EvalModelOptions: ParsableArguments {
    @OptionGroup var selection: ConfigSelection

    @Option(help: "HF LLM folder (overrides the config's llm_name_or_path).")
    var llm: String?

    @Option(help: "HF CLIP folder (overrides visual_encoder_name_or_path).")
    var visualEncoder: String?

    @Option(help: "open_clip ConvNeXt folder (overrides visual_encoder_aux_path).")
    var visualEncoderAux: String?

    @Option(help: "Prompt template (overrides prompt_template).")
    var template: String?

    @Option(help: "Side of the high-resolution input (overrides image_size_aux).")
    var imageSizeAux: Int?

    @Option(name: [.customLong("checkpoint"), .customLong("pth")],
            help: "Trained weights: an MG-LLaVA .pth, a safetensors file, an iter_N folder or a work dir (default: work_dirs/<config>).")
    var checkpoint: String?

    @Option(help: "Where the results go (default: work_dirs/<config>).")
    var workDir: String?

    @Option(help: "Generation limit (default: the config's evaluate_max_tokens, else 100 as upstream).")
    var maxNewTokens: Int?

    @Option(help: "Boxes kept per category (upstream's eval datasets use 100).")
    var limitNum: Int = 100

    @Option(help: "Evaluate only the first N rows (a quick look; the score then covers the complete circular groups among them).")
    var limit: Int?

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        if let maxNewTokens, maxNewTokens <= 0 { throw ValidationError("--max-new-tokens must be positive") }
        if limitNum <= 0 || limitNum > 1_000_000 {
            throw ValidationError("--limit-num \(limitNum): must be in 1…1000000 (boxes kept per category)")
        }
    }

    /// The config (default tiny_sft) with the explicit paths applied.
    func resolvedConfig() throws -> TrainConfig {
        var patches: [String] = []
        if let llm { patches.append("llm_name_or_path=\(llm)") }
        if let visualEncoder { patches.append("visual_encoder_name_or_path=\(visualEncoder)") }
        if let visualEncoderAux { patches.append("visual_encoder_aux_path=\(visualEncoderAux)") }
        if let template { patches.append("prompt_template=\(template)") }
        if let imageSizeAux { patches.append("image_size_aux=\(imageSizeAux)") }
        return try selection.load(defaultName: "tiny_sft", extra: patches)
    }

    /// Loads the model (frozen, weights in place) and the generation settings.
    func prepare(_ cfg: TrainConfig, boxes: BoxIndex?, root: URL) throws -> PreparedEval {
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let weights = try TrainingRun.pretrainedWeights(path(checkpoint ?? "work_dirs/\(cfg.name)"), field: "checkpoint")
        print("loading \(cfg.llmNameOrPath), \(cfg.visualEncoderNameOrPath), \(cfg.visualEncoderAuxPath) + \(weights.path)")
        let pipeline = try InferencePipeline.load(config: cfg, root: root, weights: weights, limitNum: limitNum)
        return PreparedEval(pipeline: pipeline, boxes: boxes, maxNewTokens: maxNewTokens ?? cfg.evaluateMaxTokens ?? 100,
                            weights: weights, llm: path(cfg.llmNameOrPath), imageSizeAux: cfg.imageSizeAux,
                            workDir: path(workDir ?? "work_dirs/\(cfg.name)"))
    }
}

/// A loaded model ready to answer, and where its results go.
struct PreparedEval {
    var pipeline: InferencePipeline
    var boxes: BoxIndex?
    var maxNewTokens: Int
    var weights: URL
    var llm: URL
    var imageSizeAux: Int
    var workDir: URL

    var loop: EvaluationLoop { EvaluationLoop(pipeline: pipeline, maxNewTokens: maxNewTokens) }

    /// `<name>-predictions.jsonl` in the work dir, resumed when it was written under the same settings.
    func openLog(for data: URL, name: String) throws -> PredictionLog {
        func bytes(_ url: URL) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? -1
        }
        let meta = PredictionLog.Meta(dataset: data.path, datasetBytes: bytes(data), checkpoint: weights.path,
                                      checkpointBytes: bytes(weights), llm: llm.path, template: pipeline.template.name,
                                      maxNewTokens: maxNewTokens, imageSizeAux: imageSizeAux)
        let log = try PredictionLog(url: workDir.appendingPathComponent("\(name)-predictions.jsonl"), meta: meta)
        if log.resumed > 0 { print("resuming: \(log.resumed) rows already predicted in \(log.url.path)") }
        if log.discardedStale { print("\(log.url.lastPathComponent) was written under other settings: starting over") }
        return log
    }
}

extension PreparedEval {
    /// Answers an open-ended question file (POPE, TextVQA, GQA, VQAv2): predictions logged under the file's base
    /// name so a rerun resumes, with a progress line.
    func answer(_ questions: [EvalQuestion], file: URL, imageFolder: URL, suffix: String, limit: Int?) throws
        -> (answers: [String], log: PredictionLog) {
        let evaluator = OpenEndedEvaluator(pipeline: pipeline, boxes: boxes, maxNewTokens: maxNewTokens,
                                           imageFolder: imageFolder, suffix: suffix)
        let log = try openLog(for: file, name: file.deletingPathExtension().lastPathComponent)
        let progress = RowProgress()
        let answers = try evaluator.predictAll(questions, limit: limit, log: log) { progress.update($0, $1) }
        return (answers, log)
    }
}

/// Rows done, rows/s and ETA, on one line redrawn on a terminal, every 5 s otherwise.
final class RowProgress {
    private let start = Date()
    private var last = Date.distantPast
    private let interactive = isatty(STDOUT_FILENO) != 0

    func update(_ done: Int, _ total: Int) {
        let elapsed = Date().timeIntervalSince(start)
        guard interactive || Date().timeIntervalSince(last) >= 5 || done == total else { return }
        last = Date()
        let rate = Double(done) / max(elapsed, 1e-9)
        let line = String(format: "  %d/%d rows  %.1f rows/s  ETA %@", done, total, rate,
                          ProgressBar.clock(Double(total - done) / max(rate, 1e-9)))
        if interactive {
            print("\r" + line, terminator: done == total ? "\n" : "")
            fflush(stdout)
        } else {
            print(line)
        }
    }
}
