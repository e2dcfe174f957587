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
        subcommands: [
            MMBench.self, EvalPOPECommand.self, EvalTextVQACommand.self, EvalGQACommand.self, EvalVQAv2Command.self,
            EvalMMECommand.self, EvalPerplexityCommand.self, Score.self
        ])

    struct MMBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mmbench",
            abstract:
                "Multiple-choice TSV (MMBench, SEED, SQA, AI2D, MMStar, MMMU) with circular evaluation, as upstream scores it."
        )

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
                throw UnknownConfig(
                    message:
                        "config \(cfg.name) names no TSV (val_dataset \(cfg.valDataset ?? "null")): pass --data FILE.tsv"
                )
            }
            let started = Date()
            let dataset = try MultipleChoiceDataset.load(path(tsvPath))
            let boxURL = boxJson.map(path) ?? MultipleChoiceEvaluation.defaultBoxFile(for: dataset)
            let boxes = try boxURL.map { try BoxIndex.load(contentsOf: $0) }
            if boxURL == nil && model.detection.detector == nil {
                print("no box JSON: every image gets the dummy box, as upstream without detections")
            }
            let context = try model.prepare(cfg, root: root)
            let progress = RowProgress()
            let result = try MultipleChoiceEvaluation.run(
                context, dataset: dataset, boxes: boxes, onLog: announce,
                onRow: progress.update)
            guard let scores = result.scores else {
                print(
                    "the first \(model.limit ?? 0) rows hold no complete circular group: nothing to score yet "
                        + "(predictions kept in \(result.log.url.path); run again without --limit to finish)")
                return
            }
            if !result.skipped.isEmpty {
                print("\(result.skipped.count) rows skipped (scored as wrong):")
                for entry in result.skipped.prefix(10) { print("  \(entry.skipped ?? "index \(entry.index)")") }
            }
            try report(result.scored, scores: scores, files: result.files, context: context)
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
            let (scores, files) = try MultipleChoiceEvaluation.score(dataset, predictions: loaded, workDir: out)
            try report(dataset, scores: scores, files: files, context: nil)
        }
    }

    /// Prints the table (or the test split's submission note), the warnings and where everything went.
    static func report(
        _ dataset: MultipleChoiceDataset, scores: MultipleChoiceScores, files: [URL], context: EvaluationContext?
    ) throws {
        if dataset.split == "test" {
            print(
                "\(dataset.name) is a test split (no answers): \(files[0].path) is the file to submit to the "
                    + "official evaluation server; no local score (upstream reports Average 0)")
        } else {
            print(scores.table(title: "\(dataset.name) (\(dataset.split), \(dataset.rows.count) rows)"))
        }
        for warning in scores.warnings { print("note: \(warning)") }
        try printOutputs(files, context)
    }
}

/// The model side of every `eval` command: which config, which weights, generation settings, where results go.
struct EvalModelOptions: ParsableArguments {
    @OptionGroup var selection: ConfigSelection

    @Option(help: "HF LLM folder or llama.cpp GGUF file (overrides the config's llm_name_or_path).")
    var llm: String?

    @Option(help: "HF CLIP folder (overrides visual_encoder_name_or_path).")
    var visualEncoder: String?

    @Option(help: "open_clip ConvNeXt folder (overrides visual_encoder_aux_path).")
    var visualEncoderAux: String?

    @Option(help: "Prompt template (overrides prompt_template).")
    var template: String?

    @Option(help: "Side of the high-resolution input (overrides image_size_aux).")
    var imageSizeAux: Int?

    @Option(
        name: [.customLong("checkpoint"), .customLong("pth")],
        help:
            "Trained weights: an MG-LLaVA .pth, a safetensors file, an iter_N folder or a work dir (default: work_dirs/<config>)."
    )
    var checkpoint: String?

    @Option(help: "Where the results go (default: work_dirs/<config>).")
    var workDir: String?

    @Option(help: "Generation limit (default: the config's evaluate_max_tokens, else 100 as upstream).")
    var maxNewTokens: Int?

    @OptionGroup(title: "Boxes made by a detector for images the box JSON lacks") var detection: DetectorOptions

    @Option(
        help: ArgumentHelp(
            "Products with 16-bit weights: bf16 (activations rounded to the weights' type, as PyTorch and llama.cpp compute a 16-bit model: AVX512-BF16 dot products for bf16 weights, f16 activations for f16 weights; the default where the CPU has AVX512-BF16), f32 (weights widened to float32: float32 numbers, ~2× slower bf16 prefill; the default elsewhere), split (bf16 weights: bf16 dot products on activations split in two bf16 terms, float32-like).",
            valueName: "split|bf16|f32"))
    var bf16Kernel: String?

    @Option(help: "Boxes kept per category (upstream's eval datasets use 100).")
    var limitNum: Int = 100

    @Option(
        help:
            "Evaluate only the first N rows (a quick look; the score then covers the complete circular groups among them)."
    )
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

    /// Loads the model (frozen, weights in place) into the evaluation context every benchmark runs in.
    func prepare(_ cfg: TrainConfig, root: URL) throws -> EvaluationContext {
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        if let bf16Kernel { HalfPrecision.kernel = try HalfPrecisionKernel(flag: bf16Kernel) }
        // The detector (small) loads first, so a bad folder is reported before the model is read.
        let detector = try detection.loadDetector()
        let weights = try TrainingRun.pretrainedWeights(
            path(checkpoint ?? "work_dirs/\(cfg.name)"), field: "checkpoint")
        print(
            "loading \(cfg.llmNameOrPath), \(cfg.visualEncoderNameOrPath), \(cfg.visualEncoderAuxPath) + \(weights.path)"
        )
        let pipeline = try InferencePipeline.load(config: cfg, root: root, weights: weights, limitNum: limitNum)
        for note in pipeline.loadNotes { print(note) }
        if let detector {
            pipeline.detector = detector.detector
            pipeline.detectionQueries = try detection.detectionQueries()
            print(
                "detector: \(detector.description), \(detector.tagSummary(pipeline.detectionQueries)), threshold "
                    + "\(detection.threshold) (images without boxes get OWLv2's)")
        }
        return EvaluationContext(
            pipeline: pipeline, maxNewTokens: maxNewTokens ?? cfg.evaluateMaxTokens ?? 100,
            weights: weights, llm: path(cfg.llmNameOrPath), imageSizeAux: cfg.imageSizeAux,
            workDir: path(workDir ?? "work_dirs/\(cfg.name)"), limit: limit)
    }
}

/// Says whether a prediction log was resumed or started over.
func announce(_ log: PredictionLog) {
    if log.resumed > 0 { print("resuming: \(log.resumed) rows already predicted in \(log.url.path)") }
    if log.discardedStale { print("\(log.url.lastPathComponent) was written under other settings: starting over") }
}

/// The "outputs:" block every command ends with.
func printOutputs(_ files: [URL], _ context: EvaluationContext?) throws {
    print("outputs:")
    for file in files { print("  results     \(file.path)") }
    if let context, let detected = try context.writeDetectedBoxes() {
        print("  boxes       \(detected.path) (OWLv2 boxes for \(context.pipeline.detectedBoxes.count) images)")
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
        let line = String(
            format: "  %d/%d rows  %.1f rows/s  ETA %@", done, total, rate,
            ProgressBar.clock(Double(total - done) / max(rate, 1e-9)))
        if interactive {
            print("\r" + line, terminator: done == total ? "\n" : "")
            fflush(stdout)
        } else {
            print(line)
        }
    }
}
