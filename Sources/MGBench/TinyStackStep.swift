import Foundation
import MGConfigs
import MGTrain

/// One full optimizer step of the embedded default's tiny stack (its models and a small synthetic dataset in a
/// temporary folder): time and tokens per step, with no bound — the row shows the whole trainer's overhead at a
/// size where the GEMMs are small.
public enum TinyStackStep {
    /// The fastest of the timed steps.
    public struct Result: Equatable, Sendable {
        public var seconds: Double
        /// Tokens in the step's batch.
        public var tokens: Int
        public var batchSize: Int
        /// Peak RSS over the timed steps.
        public var peakRSS: Int
    }

    /// Prepares the tiny stack in a temporary folder (removed afterwards) and times `repeats` steps after a warm-up.
    public static func measure(repeats: Int) throws -> Result {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try EmbeddedDefault.ensure(
            root: root,
            dataset: SyntheticDatasetSpec(
                pretrainSamples: 64, sftSamples: 64,
                mmbenchQuestions: 1, seed: 1),
            dataFolder: "data", modelsFolder: "models")
        let config = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models")
            .with {
                $0.pretrainedPth = nil; $0.stage = .pretrain; $0.freezeLLM = false; $0.maxEpochs = 100
            }
        let run = try TrainingRun.prepare(config: config, workDir: root.appendingPathComponent("w"), root: root)
        var tokens = 0
        ResidentMemory.resetPeak()
        let seconds = BenchTiming.interleaved(repeats: repeats) { tokens = (try? run.trainer.step())?.tokens ?? 0 }
        return Result(seconds: seconds, tokens: tokens, batchSize: config.batchSize, peakRSS: ResidentMemory.peak())
    }
}
