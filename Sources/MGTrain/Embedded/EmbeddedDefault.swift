// MGTrain — the embedded default (DESIGN §7): what `mgllava train pretrain` with no flags needs on a machine with
// no downloads. Generated once under `work_dirs/tiny_data` and `work_dirs/tiny_models`, reused afterwards.
import Foundation

/// The embedded default (DESIGN §7): the synthetic dataset and the tiny model stack `tiny_pretrain`/`tiny_sft`
/// train on, generated on first use.
public enum EmbeddedDefault {
    /// Folders (relative to the run root) the tiny configs point at.
    public static let dataFolder = "work_dirs/tiny_data"
    public static let modelsFolder = "work_dirs/tiny_models"

    /// Whether a config trains on the embedded data (and so may generate it).
    public static func uses(_ config: TrainConfig) -> Bool {
        [config.dataPath, config.llmNameOrPath].contains {
            $0.hasPrefix(dataFolder + "/") || $0.hasPrefix(modelsFolder + "/")
        }
    }

    /// Generates whatever is missing or stale under `root` (data in `dataFolder`, models in `modelsFolder`, both
    /// relative to `root`); returns the folders it wrote, and logs what it does.
    @discardableResult
    public static func ensure(
        root: URL, dataset: SyntheticDatasetSpec = SyntheticDatasetSpec(),
        stack: TinyStackSpec = TinyStackSpec(), dataFolder: String = dataFolder,
        modelsFolder: String = modelsFolder, log: (String) -> Void = { _ in }
    ) throws -> [URL] {
        var made: [URL] = []
        let data = root.appendingPathComponent(dataFolder)
        if !SyntheticDataset.isComplete(data, spec: dataset) {
            log(
                "generating the synthetic dataset in \(data.path) (\(dataset.pretrainSamples) captions, "
                    + "\(dataset.sftSamples) question records, \(dataset.mmbenchQuestions)×4 MMBench rows)…")
            try SyntheticDataset.write(to: data, spec: dataset)
            made.append(data)
        }
        let models = root.appendingPathComponent(modelsFolder)
        if !TinyStack.isComplete(models, spec: stack) {
            log(
                "writing the tiny model folders (random CLIP ViT, ConvNeXt and Llama with its tokenizer) in \(models.path)…"
            )
            try TinyStack.write(
                to: models, spec: stack, phrases: SyntheticDataset.phrases,
                units: SyntheticDataset.optionLines)
            made.append(models)
        }
        return made
    }

    /// `base` (a tiny config) with its data and model paths moved to other folders, e.g. a small dataset written
    /// by `ensure(…, dataFolder:, modelsFolder:)` for a quick run.
    public static func relocate(_ base: TrainConfig, dataFolder: String, modelsFolder: String) -> TrainConfig {
        func move(_ path: String) -> String {
            if path.hasPrefix(Self.dataFolder + "/") { return dataFolder + path.dropFirst(Self.dataFolder.count) }
            if path.hasPrefix(Self.modelsFolder + "/") { return modelsFolder + path.dropFirst(Self.modelsFolder.count) }
            return path
        }
        return base.with {
            $0.llmNameOrPath = move($0.llmNameOrPath)
            $0.visualEncoderNameOrPath = move($0.visualEncoderNameOrPath)
            $0.visualEncoderAuxPath = move($0.visualEncoderAuxPath)
            $0.dataPath = move($0.dataPath)
            $0.boxJsonPath = move($0.boxJsonPath)
            $0.imageFolder = move($0.imageFolder)
            $0.valDataset = $0.valDataset.map(move)
        }
    }
}
