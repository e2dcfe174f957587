import Foundation
import MGConfigs
import MGTrain
import MGTestSupport
import XCTest

/// The training loop on the tiny stack (vicuna-tiny + clip-vit-tiny + convnext-tiny, pretrain.pth) over the
/// reference conversation records pointed at the fixture photos.
final class TrainerTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("mgtrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tempDir) }

    private func config(_ edit: (inout TrainConfig) -> Void = { _ in }) -> TrainConfig {
        tiny_pretrain.with {
            $0.batchSize = 2
            $0.maxEpochs = 2
            $0.saveSteps = 2
            $0.saveTotalLimit = -1
            $0.warmupRatio = 0.2
            edit(&$0)
        }
    }

    private func model() throws -> MGLLaVAModel {
        try MGLLaVAModel.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/pretrain.pth"))
    }

    /// The reference records (images → fixture photos, boxes re-keyed), `limit` of them.
    private func dataset(limit: Int? = nil) throws -> LLaVADataset {
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("reference/conversations-vicuna.json"))) as! [String: Any]
        let photos = ["photo0.jpg", "photo1.png", "photo2.jpg"]
        var records: [[String: Any]] = []
        for (i, item) in (reference["records"] as! [[String: Any]]).enumerated() {
            var record = item["record"] as! [String: Any]
            if record["image"] != nil { record["image"] = photos[i % photos.count] }
            records.append(record)
        }
        if let limit { records = Array(records.prefix(limit)) }
        let url = tempDir.appendingPathComponent("records-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: records).write(to: url)
        let boxList = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        let boxes = try BoxIndex(
            records: records.enumerated().map { i, record -> BoxRecord in
                var box = boxList[i % boxList.count]
                box.id = .string("\(record["id"]!)")
                return box
            })
        return try LLaVADataset(
            records: try LLaVARecord.load(contentsOf: url), imageFolder: Fixtures.url("preprocess"),
            boxes: boxes, tokenizer: try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny")),
            template: .vicuna, maxLength: 256, processor: ImageProcessor(auxSize: 128, clipSize: 56))
    }

    private func trainer(_ config: TrainConfig, _ dataset: LLaVADataset, _ dir: String) throws -> Trainer {
        try Trainer(config: config, model: try model(), dataset: dataset, workDir: tempDir.appendingPathComponent(dir))
    }

    func testResumeReproducesUninterruptedRun() throws {
        let data = try dataset(), cfg = config()
        let straight = try trainer(cfg, data, "straight")
        XCTAssertGreaterThanOrEqual(straight.totalIterations, 6)
        let poolCapacity = LargeAllocationPool.capacity
        let expected = try straight.train(maxSteps: 6).map(\.loss)
        XCTAssertEqual(LargeAllocationPool.capacity, poolCapacity, "training gives the reuse pool back its size")
        XCTAssertEqual(expected.count, 6)
        XCTAssertTrue(expected.allSatisfy(\.isFinite), "\(expected)")
        XCTAssertEqual(Set(expected).count, expected.count, "steps should see different batches: \(expected)")

        let first = try trainer(cfg, data, "resumed")
        let head = try first.train(maxSteps: 2).map(\.loss)
        XCTAssertEqual(Trainer.checkpoints(in: first.workDir).map(\.iteration), [2])

        // A fresh process's view: a new model from the same files, resumed from the work dir's `latest`.
        let second = try trainer(cfg, data, "resumed")
        try second.resume(from: second.workDir)
        XCTAssertEqual(second.iteration, 2)
        XCTAssertEqual(second.cursor, first.cursor)
        let tail = try second.train(maxSteps: 4).map(\.loss)
        XCTAssertEqual(head + tail, expected)
        XCTAssertEqual(second.history.map(\.loss), expected)
        // metrics.jsonl describes the one run: the resumed file holds the same six records.
        let straightMetrics = try String(
            contentsOf: straight.workDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        let resumedMetrics = try String(
            contentsOf: second.workDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertEqual(straightMetrics.split(separator: "\n").count, 6)
        XCTAssertEqual(resumedMetrics, straightMetrics)
    }

    /// `llm_lora`: the adapters (and the MG-LLaVA modules) train, the LLM's own weights do not move, checkpoints hold
    /// only what trains (the adapters under PEFT's names inside `llm.`), and a resumed run gives the same losses.
    func testLoRARunTrainsOnlyTheAdaptersAndResumesExactly() throws {
        let data = try dataset()
        let cfg = config {
            $0.stage = .sft
            $0.pretrainedPth = Fixtures.url("models/mgllava-tiny/pretrain.pth").path
            $0.freezeLLM = true
            $0.llmLoRA = LoRAConfig(r: 4, alpha: 8, dropout: 0.1)
            $0.lr = 1e-3
        }
        let straight = try trainer(cfg, data, "lora-straight")
        let base = straight.model.llm.namedParameters().first { $0.0 == "model.layers.0.self_attn.q_proj.weight" }
        let before = try XCTUnwrap(base).1.value.toArray()
        let expected = try straight.train(maxSteps: 4).map(\.loss)
        XCTAssertTrue(expected.allSatisfy(\.isFinite), "\(expected)")
        XCTAssertEqual(try XCTUnwrap(base).1.value.toArray(), before, "the LLM's own weight moved")
        let trainable = straight.model.namedParameters().filter { !$0.1.frozen }.map(\.0)
        XCTAssertTrue(trainable.filter { $0.hasPrefix("llm.") }.allSatisfy { $0.contains(".lora_") })
        XCTAssertEqual(trainable.filter { $0.contains(".lora_") }.count, 2 * 7 * straight.model.llm.layers.count)
        // The checkpoint: adapters and modules only.
        let folder = try XCTUnwrap(Trainer.checkpoints(in: straight.workDir).last).url
        let saved = try Checkpoint.open(folder.appendingPathComponent(Trainer.modelFile)).keys
        XCTAssertEqual(Set(saved), Set(trainable))

        // As PEFT's adapter folder: it loads onto the plain LLM with the trained values.
        let exported = tempDir.appendingPathComponent("adapter")
        XCTAssertEqual(
            try LoRAExport.exportAdapter(checkpoint: straight.workDir, to: exported),
            saved.filter {
                $0.contains(".lora_")
            }.count)
        let plain = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        let loaded = try PEFTAdapter.load(exported, into: plain)
        XCTAssertEqual(loaded.r, 4)
        let trained = Dictionary(uniqueKeysWithValues: straight.model.llm.namedParameters())
        for (key, parameter) in plain.namedParameters() where key.contains(".lora_") {
            XCTAssertEqual(parameter.value.toArray(), trained[key]?.value.toArray(), key)
        }
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: exported.appendingPathComponent("mgllava_modules.safetensors").path))

        let first = try trainer(cfg, data, "lora-resumed")
        let head = try first.train(maxSteps: 2).map(\.loss)
        let second = try trainer(cfg, data, "lora-resumed")
        try second.resume(from: second.workDir)
        let tail = try second.train(maxSteps: 2).map(\.loss)
        XCTAssertEqual(head + tail, expected)
    }

    /// `visual_encoder_lora` beside `llm_lora`: CLIP's adapters get gradients through the fusion (its own weights and
    /// the ConvNeXt stay as they were), the checkpoint holds them under `visual_encoder.`, a resumed run gives the
    /// same losses, and the inference pipeline built from the config loads them.
    func testVisualEncoderLoRATrainsCLIPsAdaptersAndResumesExactly() throws {
        let data = try dataset()
        let cfg = config {
            $0.stage = .sft
            $0.pretrainedPth = Fixtures.url("models/mgllava-tiny/pretrain.pth").path
            $0.freezeLLM = true
            $0.llmLoRA = LoRAConfig(r: 4, alpha: 8)
            $0.visualEncoderLoRA = LoRAConfig(r: 2, alpha: 4, dropout: 0.05)
            $0.lr = 1e-3
        }
        let straight = try trainer(cfg, data, "vlora-straight")
        let clip = Dictionary(uniqueKeysWithValues: straight.model.visualEncoder.namedParameters())
        let qKey = try XCTUnwrap(clip.keys.first { $0.hasSuffix("layers.0.self_attn.q_proj.weight") })
        let before = try XCTUnwrap(clip[qKey]).value.toArray()
        let expected = try straight.train(maxSteps: 3).map(\.loss)
        XCTAssertTrue(expected.allSatisfy(\.isFinite), "\(expected)")
        XCTAssertEqual(try XCTUnwrap(clip[qKey]).value.toArray(), before, "CLIP's own weight moved")
        let clipAdapters = straight.model.visualEncoder.namedParameters().filter { $0.0.contains(".lora_B") }
        XCTAssertFalse(clipAdapters.isEmpty)
        // B starts at zero: after three steps every CLIP adapter's B below the selected layer (−2) has moved; the
        // last layer's output is not used, so its adapters get no gradient (as upstream's).
        let last = straight.model.visualEncoder.architecture.numHiddenLayers - 1
        for (key, parameter) in clipAdapters {
            let unused = key.contains("layers.\(last).")
            XCTAssertEqual(parameter.value.toArray().contains { $0 != 0 }, !unused, "\(key)")
        }
        XCTAssertTrue(straight.model.visualEncoderAux.parameters().allSatisfy(\.frozen))
        let folder = try XCTUnwrap(Trainer.checkpoints(in: straight.workDir).last).url
        let saved = try Checkpoint.open(folder.appendingPathComponent(Trainer.modelFile)).keys
        XCTAssertTrue(saved.contains { $0.hasPrefix("visual_encoder.") && $0.contains(".lora_A") }, "\(saved)")
        XCTAssertFalse(saved.contains { $0.hasPrefix("visual_encoder.") && !$0.contains(".lora_") })

        let first = try trainer(cfg, data, "vlora-resumed")
        let head = try first.train(maxSteps: 2).map(\.loss)
        let second = try trainer(cfg, data, "vlora-resumed")
        try second.resume(from: second.workDir)
        let tail = try second.train(maxSteps: 1).map(\.loss)
        XCTAssertEqual(head + tail, expected)

        let pipeline = try InferencePipeline.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: folder.appendingPathComponent(Trainer.modelFile), lora: cfg.llmLoRA,
            visualEncoderLoRA: cfg.visualEncoderLoRA, tokenizer: Fixtures.url("tokenizers/vicuna-tiny"),
            imageSizeAux: 128)
        let loaded = Dictionary(uniqueKeysWithValues: pipeline.model.visualEncoder.namedParameters())
        let file = try Checkpoint.open(folder.appendingPathComponent(Trainer.modelFile))
        for (key, _) in clipAdapters {
            XCTAssertEqual(
                loaded[key]?.value.toArray(), try file.tensor("visual_encoder." + key).toArray(), key)
        }
    }

    /// The QLoRA analogue: LoRA over a block-quantized LLM (the Q8_0 GGUF of the same tiny Vicuna). The base stays
    /// quantized and in place, the input gradient flows through it to the adapters of the layers below, and the loss
    /// goes down on a repeated batch.
    func testLoRAOverAQuantizedBaseTrains() throws {
        let data = try dataset(limit: 2)
        let cfg = config {
            $0.stage = .sft
            $0.pretrainedPth = Fixtures.url("models/mgllava-tiny/pretrain.pth").path
            $0.batchSize = 2
            $0.maxEpochs = 8
            $0.freezeLLM = true
            $0.llmLoRA = LoRAConfig(r: 4, alpha: 8)
            $0.lr = 3e-3
            $0.warmupRatio = 0
        }
        let quantized = try MGLLaVAModel.load(
            llm: Fixtures.url("gguf/vicuna-tiny-q8_0.gguf"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/pretrain.pth"))
        let q = quantized.llm.namedParameters().first { $0.0 == "model.layers.0.self_attn.q_proj.weight" }
        XCTAssertEqual(q?.1.value.dtype, .q8_0)
        let trainer = try Trainer(
            config: cfg, model: quantized, dataset: data, workDir: tempDir.appendingPathComponent("qlora"))
        let losses = try trainer.train(maxSteps: 8).map(\.loss)
        XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(losses)")
        XCTAssertLessThan(losses.last ?? .infinity, losses.first ?? 0, "\(losses)")
        XCTAssertEqual(q?.1.value.dtype, .q8_0, "the base must stay quantized")
    }

    func testLossGoesDownOnARepeatedBatch() throws {
        // Two records, batch 2: every iteration sees the same batch; SFT so the LLM learns too.
        let data = try dataset(limit: 2)
        let cfg = config {
            $0.maxEpochs = 20
            $0.saveSteps = 100
            $0.freezeLLM = false
            $0.lr = 3e-3
            $0.warmupRatio = 0
        }
        let trainer = try trainer(cfg, data, "overfit")
        XCTAssertEqual(trainer.totalIterations, 20)
        var progress: [TrainProgress] = []
        trainer.onProgress = { progress.append($0) }
        let losses = try trainer.train().map(\.loss)
        XCTAssertEqual(losses.count, 20)
        XCTAssertLessThan(losses.last!, losses.first! * 0.5, "\(losses)")
        XCTAssertEqual(progress.map(\.iteration), Array(1...20))
        XCTAssertEqual(progress.last?.etaSeconds, 0)
        XCTAssertTrue(progress.allSatisfy { $0.tokensPerSecond > 0 })
        // Saved at the end.
        XCTAssertEqual(Trainer.checkpoints(in: trainer.workDir).map(\.iteration), [20])
    }

    func testPretrainLeavesFrozenModulesUnchanged() throws {
        let trainer = try trainer(
            config {
                $0.lr = 1e-2; $0.warmupRatio = 0
            }, try dataset(limit: 4), "frozen")
        let before = Dictionary(
            uniqueKeysWithValues: trainer.model.namedParameters().map { ($0.0, $0.1.value.toArray()) })
        try trainer.train(maxSteps: 2)
        var changed = Set<String>()
        for (key, parameter) in trainer.model.namedParameters() where parameter.value.toArray() != before[key] {
            changed.insert(String(key.prefix { $0 != "." }))
        }
        XCTAssertEqual(changed, ["fuse_module", "projector", "bbox_projector"])
        XCTAssertTrue(
            trainer.optimizer.entries.allSatisfy { !$0.name.hasPrefix("llm.") && !$0.name.hasPrefix("visual_encoder") })
    }

    func testCheckpointRotationLayoutAndTornFolders() throws {
        let cfg = config {
            $0.saveSteps = 1; $0.saveTotalLimit = 2
        }
        let trainer = try trainer(cfg, try dataset(limit: 4), "rotate")
        try trainer.train(maxSteps: 4)
        let dir = trainer.workDir
        XCTAssertEqual(Trainer.checkpoints(in: dir).map(\.iteration), [3, 4])
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("latest"), encoding: .utf8), "iter_4\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["iter_3", "iter_4", "latest", "metrics.jsonl"])
        let last = dir.appendingPathComponent("iter_4")
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: last.path).sorted(),
            ["model.safetensors", "optimizer.safetensors", "trainer_state.json"])

        // model.safetensors holds the trained modules under upstream keys and loads into a fresh model.
        let weights = try SafeTensorsFile(url: last.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(
            Set(weights.keys.map { String($0.prefix { $0 != "." }) }), ["fuse_module", "projector", "bbox_projector"])
        let fresh = try model()
        let summary = try fresh.loadCheckpoint(last.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(summary.loadedPrefixes, ["bbox_projector", "fuse_module", "projector"])
        let live = Dictionary(uniqueKeysWithValues: trainer.model.namedParameters().map { ($0.0, $0.1) })
        for (key, parameter) in fresh.namedParameters() where key.hasPrefix("projector") {
            XCTAssertEqual(parameter.value.toArray(), live[key]?.value.toArray(), key)
        }

        // A torn checkpoint (no trainer_state.json) is neither listed nor resumable, and names what is missing.
        let torn = dir.appendingPathComponent("iter_9")
        try FileManager.default.copyItem(at: last, to: torn)
        try FileManager.default.removeItem(at: torn.appendingPathComponent("trainer_state.json"))
        XCTAssertEqual(Trainer.checkpoints(in: dir).map(\.iteration), [3, 4])
        XCTAssertEqual(Trainer.latestCheckpoint(in: dir)?.lastPathComponent, "iter_4")
        let other = try self.trainer(cfg, try dataset(limit: 4), "other")
        XCTAssertThrowsError(try other.resume(from: torn)) { error in
            guard case TrainerError.incompleteCheckpoint(_, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("trainer_state.json"), reason)
        }
        XCTAssertEqual(other.iteration, 0)
        // A checkpoint from a run that trains differently is refused by name.
        let mismatched = try self.trainer(cfg.with { $0.lr = 5e-4 }, try dataset(limit: 4), "mismatch")
        XCTAssertThrowsError(try mismatched.resume(from: last)) { error in
            XCTAssertEqual(error as? TrainerError, .configMismatch("differs in lr"))
        }
    }

    func testGradientAccumulationStepsAndTrailingWindow() throws {
        // Three samples, micro-batch 1, two per step: iterations 1-2 make step 1, iteration 3 alone makes step 2
        // (mmengine's trailing window, loss divided by 1). Step 1 ends on iteration 2 = save_steps, step 2 ends
        // the run: both save.
        let data = try dataset(limit: 3)
        XCTAssertEqual(data.count, 3)
        let cfg = config {
            $0.batchSize = 1; $0.accumulativeCounts = 2; $0.maxEpochs = 1; $0.saveSteps = 2
        }
        let trainer = try trainer(cfg, data, "accumulate")
        let records = try trainer.train()
        XCTAssertEqual(records.map(\.iteration), [2, 3])
        XCTAssertEqual(records.map(\.step), [1, 2])
        XCTAssertEqual(trainer.optimizerSteps, 2)
        XCTAssertTrue(trainer.optimizer.entries.allSatisfy { trainer.optimizer.stepCount(of: $0.name) == 2 })
        XCTAssertEqual(records.map(\.lr), [trainer.schedule.lr(at: 1), trainer.schedule.lr(at: 2)])
        XCTAssertEqual(Trainer.checkpoints(in: trainer.workDir).map(\.iteration), [2, 3])
    }
}
