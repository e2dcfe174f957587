// train-example: MG-LLaVA's two training stages through the library, on the embedded default's synthetic data —
// what `mgllava train pretrain` then `mgllava train sft` do, shrunk to a few steps.
//
//   train-example [--pretrain-steps 3] [--sft-steps 3] [--folder DIR]
import ArgumentParser
import Foundation
import MGConfigs  // the built-in configs (tiny_pretrain, tiny_sft, upstream's); re-exports MGTrain and MGLLaVA

struct TrainExample: ParsableCommand {
    @Option(help: "Stage-1 optimizer steps.") var pretrainSteps = 3
    @Option(help: "Stage-2 optimizer steps.") var sftSteps = 3
    @Option(help: "Where the data, models and work dirs go (default: a temporary folder, deleted at the end).")
    var folder: String?

    func run() throws {
        let root =
            folder.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "mgllava-train-example-\(UUID().uuidString)")
        defer { if folder == nil { try? FileManager.default.removeItem(at: root) } }

        // 1. Data and models: a small synthetic dataset (pictures of coloured shapes with their boxes, captions for
        //    stage 1, questions for stage 2) and a tiny random stack (CLIP ViT, ConvNeXt, Llama with its
        //    tokenizer), in upstream's file formats, under `root`. Whatever is already complete is kept.
        let spec = SyntheticDatasetSpec(pretrainSamples: 16, sftSamples: 8, mmbenchQuestions: 1, seed: 1)
        try EmbeddedDefault.ensure(
            root: root, dataset: spec, dataFolder: "data", modelsFolder: "models",
            log: { print($0) })

        // 2. Stage 1 (pretrain): the towers and the LLM frozen, the fusion and projectors trained. A config is a
        //    value: take a built-in one, point it at the folders above, change what you like. Relative paths in
        //    a config are relative to `root`.
        let pretrain = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
            .with { $0.batchSize = 4 }
        let pretrainDir = root.appendingPathComponent("work_dirs/pretrain")
        try train(pretrain, in: pretrainDir, root: root, steps: pretrainSteps)

        // 3. Stage 2 (SFT): the LLM trained too, starting from stage 1's weights (`pretrained_pth` takes a .pth, an
        //    iter_N folder, or a work dir, whose latest checkpoint is used).
        let sft = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models").with {
            $0.batchSize = 4
            $0.pretrainedPth = pretrainDir.path
        }
        try train(sft, in: root.appendingPathComponent("work_dirs/sft"), root: root, steps: sftSteps)
    }

    /// Runs `steps` optimizer steps of `config` in `workDir` and prints each step's loss.
    func train(_ config: TrainConfig, in workDir: URL, root: URL, steps: Int) throws {
        // A session locks its work dir, loads the models and data and checks them against the config. `start:`
        // says what to do with an earlier run there (.fresh refuses it; .resume continues it to the same losses).
        let session = try TrainingSession(config: config, workDir: workDir, root: root, start: .overwrite)
        // `train` runs until the schedule's end, `maxSteps`, a callback returning .stop or a stop request (e.g. a
        // signal flag). Stopping early saves a checkpoint; metrics.jsonl and loss_curve.svg go to the work dir.
        let outcome = try session.train(
            maxSteps: steps,
            afterStep: { record in
                print(
                    "\(config.name) step \(record.iteration): loss "
                        + String(format: "%.4f (lr %.2e)", record.loss, record.lr))
                return .proceed
            })
        let checkpoint = Trainer.latestCheckpoint(in: workDir)?.lastPathComponent ?? "none"
        print("\(config.name): \(outcome.steps) steps of \(session.trainer.totalIterations), checkpoint \(checkpoint)")
    }
}

TrainExample.main()
