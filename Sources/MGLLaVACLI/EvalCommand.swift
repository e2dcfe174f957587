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
        abstract: "Evaluate a trained MG-LLaVA on a benchmark.",
        subcommands: [MMBench.self])

    struct MMBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mmbench",
            abstract: "Multiple-choice TSV (MMBench, SEED, SQA, AI2D, MMStar…) with circular evaluation, as upstream scores it.")

        @Option(help: "Config giving the model folders, template and image sizes (default: tiny_sft).")
        var config: String = "tiny_sft"

        @Option(help: "A full config as JSON (e.g. from `mgllava configs dump`), instead of --config.")
        var configFile: String?

        @Option(name: .customLong("set"), help: "Patch a config value: key=value (repeatable).")
        var sets: [String] = []

        @Option(help: "Trained weights: an MG-LLaVA .pth, a safetensors file, an iter_N folder or a work dir (default: work_dirs/<config>).")
        var checkpoint: String?

        @Option(help: "The TSV (default: the config's val_dataset when it is a .tsv path).")
        var data: String?

        @Option(help: "Eval box JSON keyed by row index (default: <tsv name>_boxes.json next to the TSV, if present).")
        var boxJson: String?

        @Option(help: "Where the results files go (default: work_dirs/<config>).")
        var workDir: String?

        @Option(help: "Generation limit (default: the config's evaluate_max_tokens, else 100 as upstream).")
        var maxNewTokens: Int?

        @Option(help: "Boxes kept per category (upstream's eval datasets use 100).")
        var limitNum: Int = 100

        @Option(help: "Evaluate only the first N rows (a quick check; the score then covers those rows only).")
        var limit: Int?

        func run() throws {
            var options = try TrainOptions.parse([])
            options.config = configFile == nil ? config : nil
            options.configFile = configFile
            options.sets = sets
            let cfg = try options.loadConfig(defaultName: config)
            let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
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
            let boxes = try boxURL.map { try BoxIndex.load(contentsOf: $0, allowDuplicates: false) }
            if boxURL == nil { print("no box JSON: every image gets the dummy box, as upstream without detections") }

            let weights = try TrainingRun.pretrainedWeights(path(checkpoint ?? "work_dirs/\(cfg.name)"), field: "checkpoint")
            print("loading \(cfg.llmNameOrPath), \(cfg.visualEncoderNameOrPath), \(cfg.visualEncoderAuxPath) + \(weights.path)")
            let model = try MGLLaVAModel.load(llm: path(cfg.llmNameOrPath), visualEncoder: path(cfg.visualEncoderNameOrPath),
                                              visualEncoderAux: path(cfg.visualEncoderAuxPath), pth: weights, frozen: true)
            model.eval()
            let tokenizer = try Tokenizer.load(directory: path(cfg.llmNameOrPath))
            guard let template = PromptTemplate.named(cfg.promptTemplate) else {
                throw UnknownConfig(message: "prompt_template \"\(cfg.promptTemplate)\" is unknown")
            }
            let clip = try CLIPVisionConfig.load(path(cfg.visualEncoderNameOrPath))
            let processor = ImageProcessor(auxSize: cfg.imageSizeAux, clipSize: clip.imageSize, padToSquare: cfg.padImageToSquare)
            let boxConfig = BoxPipelineConfig(auxSize: cfg.imageSizeAux, limitNum: limitNum, padToSquare: cfg.padImageToSquare)
            let evaluator = MultipleChoiceEvaluator(model: model, tokenizer: tokenizer, template: template,
                                                    processor: processor, boxConfig: boxConfig, boxes: boxes,
                                                    maxNewTokens: maxNewTokens ?? cfg.evaluateMaxTokens ?? 100)
            var last = Date.distantPast
            var predictions = try evaluator.predictAll(dataset, limit: limit) { done, total, _, _ in
                if Date().timeIntervalSince(last) >= 5 || done == total {
                    print("  \(done)/\(total) rows")
                    last = Date()
                }
            }
            var scored = dataset
            if let limit, limit < dataset.rows.count {
                // Score the evaluated rows only: a circular group cut by the limit is dropped whole.
                let kept = Set(predictions.keys)
                let groups = Dictionary(grouping: dataset.rows, by: { $0.index % 1_000_000 })
                let complete = groups.filter { $0.value.allSatisfy { kept.contains($0.index) } }
                let rows = dataset.rows.filter { complete[$0.index % 1_000_000] != nil }
                guard !rows.isEmpty else {
                    throw UnknownConfig(message: "--limit \(limit) covers no complete circular group; raise it")
                }
                scored = MultipleChoiceDataset(url: dataset.url, rows: rows, split: dataset.split,
                                               hasL2Category: dataset.hasL2Category)
                predictions = predictions.filter { complete[$0.key % 1_000_000] != nil }
            }
            let scores = try MultipleChoiceScorer.evaluate(dataset: scored, predictions: predictions)
            let out = path(workDir ?? "work_dirs/\(cfg.name)")
            let files = try MultipleChoiceResults.write(dataset: scored, scores: scores, to: out)
            print(scores.table(title: "\(scored.name) (\(scored.split), \(scored.rows.count) rows)"))
            print(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
            print("outputs:")
            for file in files.all { print("  results     \(file.path)") }
        }
    }
}
