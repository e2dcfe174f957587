import ArgumentParser
import Foundation
import MGConfigs
import MGTrain

/// `mgllava data process`: the analogue of upstream's `process_untokenized_llava_data.py` (SPEC §4.4) — tokenise a
/// config's conversation JSON once into a folder that `offline_processed_text_folder` then reuses.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare training data.",
        subcommands: [Process.self])

    struct Process: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pre-tokenise a config's data_path into a folder for offline_processed_text_folder.")

        @OptionGroup var selection: ConfigSelection

        @Option(help: "The folder to write.")
        var saveFolder: String

        @Option(help: "What a record that cannot be encoded does: fail or skip.")
        var onBadSample: String = "fail"

        func validate() throws {
            if BadSamplePolicy(rawValue: onBadSample) == nil {
                throw ValidationError("--on-bad-sample must be fail or skip, got \"\(onBadSample)\"")
            }
        }

        func run() throws {
            let cfg = try selection.load(defaultName: "tiny_sft")
            let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
            if EmbeddedDefault.uses(cfg) { try EmbeddedDefault.ensure(root: root, log: { print($0) }) }
            guard let template = PromptTemplate.named(cfg.promptTemplate) else {
                throw UnknownConfig(message: "prompt_template \"\(cfg.promptTemplate)\" is unknown")
            }
            let tokenizer = try Tokenizer.load(directory: path(cfg.llmNameOrPath))
            let records = try LLaVARecord.load(contentsOf: path(cfg.dataPath))
            let out = path(saveFolder)
            let meta = try ProcessedTextCache.write(
                records: records, dataPath: cfg.dataPath, tokenizer: tokenizer,
                template: template, maxLength: cfg.maxLength,
                onBadSample: BadSamplePolicy(rawValue: onBadSample) ?? .fail, to: out)
            print(
                "\(meta.records) records tokenised (\(meta.skipped) skipped) with template \(meta.template), "
                    + "max_length \(meta.maxLength) → \(out.path)")
            print("use it with: --set offline_processed_text_folder=\(saveFolder)")
        }
    }
}
