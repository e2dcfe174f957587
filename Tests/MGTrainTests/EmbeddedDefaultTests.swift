import Foundation
import MGConfigs
import MGEval
import MGTestSupport
import MGTrain
import XCTest

/// The embedded default's pieces (DESIGN §7) on a small generated dataset: the files are in the upstream formats
/// and consistent with the pictures, the tokenizer and model folders load through the real loaders, and a
/// pretrain → SFT → MMBench run goes through end to end.
final class EmbeddedDefaultTests: XCTestCase {
    private var root: URL!
    static let smallData = SyntheticDatasetSpec(pretrainSamples: 12, sftSamples: 12, mmbenchQuestions: 3, seed: 7)

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mgtrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    @discardableResult
    private func makeSmall() throws -> [URL] {
        try EmbeddedDefault.ensure(root: root, dataset: Self.smallData, dataFolder: "data", modelsFolder: "models")
    }

    func testScenesRenderTheirShapesAndRoundTripThroughPNG() throws {
        var generator = Generator(seed: 3)
        for _ in 0..<20 {
            let scene = ShapeScene.random(count: 2, generator: &generator)
            XCTAssertEqual(scene.shapes.count, 2)
            XCTAssertNotEqual(scene.shapes[0].kind, scene.shapes[1].kind)
            XCTAssertNotEqual(scene.shapes[0].colour, scene.shapes[1].colour)
            XCTAssertLessThanOrEqual(scene.shapes[0].centreX, scene.shapes[1].centreX)
            let image = scene.render()
            for shape in scene.shapes {
                // The centre is inside every kind; the top-left corner is outside all but the square.
                XCTAssertEqual(image[Int(shape.centreX), Int(shape.centreY)], shape.colour.rgb)
                let corner = image[shape.box[0], shape.box[1]]
                XCTAssertEqual(corner == shape.colour.rgb, shape.kind == .square, "\(shape.kind) corner")
                XCTAssertTrue(shape.box[2] <= scene.width && shape.box[3] <= scene.height)
            }
            let decoded = try ImageDecoder.decode(try image.pngData(), source: "scene")
            XCTAssertEqual(decoded, image)
        }
    }

    func testDatasetFilesAreInTheUpstreamFormatsAndAgreeWithThePictures() throws {
        try makeSmall()
        let data = root.appendingPathComponent("data")
        XCTAssertTrue(SyntheticDataset.isComplete(data, spec: Self.smallData))
        XCTAssertFalse(SyntheticDataset.isComplete(data, spec: SyntheticDatasetSpec()))
        for stage in ["pretrain", "sft"] {
            let records = try LLaVARecord.load(contentsOf: data.appendingPathComponent("\(stage).json"))
            let boxes = try BoxIndex.load(contentsOf: data.appendingPathComponent("\(stage)_boxes.json"))
            XCTAssertEqual(records.filter { !$0.isTextOnly }.count, 12)
            // SFT adds as many text-only look-up drills: "Which option is red?" answered "red" and red's letter.
            XCTAssertEqual(records.filter(\.isTextOnly).count, stage == "sft" ? 12 : 0)
            XCTAssertEqual(boxes.count, 12)
            for record in records where record.isTextOnly {
                for turn in stride(from: 0, to: record.conversations.count, by: 2) {
                    let question = record.conversations[turn].value
                    let answer = record.conversations[turn + 1].value.split(separator: " ")
                    let word = try XCTUnwrap(question.split(separator: "?").first?.split(separator: " ").last)
                    XCTAssertEqual(answer.count, 2)
                    XCTAssertEqual(answer.first, word)
                    XCTAssertTrue(question.contains("\n\(answer[1]). \(word)\n"), question)
                }
            }
            for record in records where !record.isTextOnly {
                let box = try boxes.record(for: record.id)
                try box.validate()
                let image = try ImageDecoder.decode(
                    contentsOf: data.appendingPathComponent("images/\(record.image ?? "")"))
                let answers = record.conversations.filter { $0.from == "gpt" }.map(\.value).joined(separator: " ")
                for (b, label) in zip(box.boxes, box.labels) {
                    let colour = image[Int((b[0] + b[2]) / 2), Int((b[1] + b[3]) / 2)]
                    let name = ShapeColour.palette.first { $0.rgb == colour }?.name
                    XCTAssertNotNil(name, "\(record.id): the box centre is not a shape colour")
                    if stage == "pretrain" {
                        XCTAssertTrue(answers.contains("\(name ?? "?") \(label)"), "\(record.id): \(answers)")
                    }
                }
                XCTAssertTrue(record.conversations[0].value.hasPrefix("<image>\n"))
            }
        }
        // MMBench: 4 rows per question, the copies rotate the options and keep the answer's text.
        let mmbench = try MultipleChoiceDataset.load(data.appendingPathComponent(SyntheticDataset.mmbenchFile))
        XCTAssertEqual(mmbench.split, "dev")
        XCTAssertEqual(mmbench.rows.count, 12)
        for main in mmbench.rows where main.index < 1_000_000 {
            let answerText = main.options.first { $0.letter == main.answer }?.text
            for k in 1..<4 {
                let copy = try XCTUnwrap(mmbench.row(index: main.index + k * 1_000_000))
                XCTAssertEqual(copy.options.map(\.text), (0..<4).map { main.options[($0 + k) % 4].text })
                XCTAssertEqual(copy.options.first { $0.letter == copy.answer }?.text, answerText)
                XCTAssertEqual(try mmbench.imageData(for: copy), try mmbench.imageData(for: main))
            }
            XCTAssertTrue(mmbench.promptText(for: main).hasSuffix(SyntheticDataset.answerInstruction))
        }
        // A second call finds everything complete and writes nothing.
        XCTAssertEqual(try makeSmall(), [])
    }

    func testTinyTokenizerIsCompactAndLossless() throws {
        let folder = root.appendingPathComponent("tok")
        try TinyTokenizerBuilder.write(to: folder, phrases: SyntheticDataset.phrases)
        let tokenizer = try Tokenizer.load(directory: folder)
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.tokens("What colour is the circle?"), ["▁What", "▁colour", "▁is", "▁the", "▁circle?"])
        XCTAssertEqual(tokenizer.encode("red").first, 1, "BOS is added")
        // Text outside the vocabulary still round-trips (characters, then UTF-8 byte fallback).
        for text in ["What shape is the red object?\nA. circle\nB. square", "héllo wörld ✓ 漢字 🙂", "  two  spaces\t"] {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false)), text)
        }
    }

    func testTinyStackLoadsThroughTheRealLoadersAndRuns() throws {
        try makeSmall()
        let models = root.appendingPathComponent("models")
        XCTAssertTrue(TinyStack.isComplete(models, spec: TinyStackSpec()))
        let model = try MGLLaVAModel.load(
            llm: models.appendingPathComponent("llm"),
            visualEncoder: models.appendingPathComponent("clip"),
            visualEncoderAux: models.appendingPathComponent("convnext"))
        let spec = TinyStackSpec()
        XCTAssertEqual(model.llm.architecture.hiddenSize, spec.llmHidden)
        XCTAssertEqual(model.visualEncoderAux.architecture.dims, spec.convnextDims)
        // The norms are unit scales, so the stage maps are normalised (the frozen random towers must not be
        // near-zero: their features are all the synthetic task can see).
        var generator = Generator(seed: 1)
        let pixels = Tensor.randn([1, 3, 128, 128], generator: &generator)
        let stage0 = withNoGrad { model.visualEncoderAux(pixels) }[0].float().toArray()
        let mean = stage0.reduce(0, +) / Float(stage0.count)
        let variance = stage0.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(stage0.count)
        XCTAssertGreaterThan(variance.squareRoot(), 0.5)
        let config = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
            .with { $0.batchSize = 2 }
        let run = try TrainingRun.prepare(config: config, workDir: root.appendingPathComponent("w"), root: root)
        let samples = [try XCTUnwrap(try run.dataset.sample(at: 0)), try XCTUnwrap(try run.dataset.sample(at: 1))]
        let out = withNoGrad { run.model(samples) }
        let loss = Double(out.loss.item())
        // A random LLM: logits ≈ N(0, σ²) with σ = initializer_range·√hidden (unit-RMS final hidden state), so
        // the cross-entropy is about log(vocabulary) + σ²/2.
        let sigma = spec.llmInitializerRange * Double(spec.llmHidden).squareRoot()
        XCTAssertEqual(loss, log(Double(run.model.llm.architecture.vocabSize)) + sigma * sigma / 2, accuracy: 1.0)
    }

    /// Mean loss of the first and of the last `count` records.
    private func ends(_ records: [TrainMetricsRecord], _ count: Int) -> (first: Double, last: Double) {
        let first = records.prefix(count).map(\.loss), last = records.suffix(count).map(\.loss)
        return (first.reduce(0, +) / Double(first.count), last.reduce(0, +) / Double(last.count))
    }

    /// An MMBench dev TSV (main rows only, no circular copies) holding the first turn of every SFT record that is
    /// an image question in the MMBench format: the question, the four options, the answer letter, the image.
    private func mmbenchFromSFTRecords() throws -> (tsv: URL, boxes: URL, rows: Int) {
        let data = root.appendingPathComponent("data")
        let records = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: data.appendingPathComponent("sft.json")))
                as? [[String: Any]])
        let boxList = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: data.appendingPathComponent("sft_boxes.json")))
                as? [[String: Any]])
        var lines = ["index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category\tsplit"]
        var boxes: [[String: Any]] = []
        for record in records {
            guard let image = record["image"] as? String, let id = record["id"] as? String,
                let turns = record["conversations"] as? [[String: String]], turns.count >= 2,
                let prompt = turns[0]["value"], let answer = turns[1]["value"],
                prompt.hasSuffix(SyntheticDataset.answerInstruction)
            else { continue }
            // "<image>\nWhat colour is the square?\nA. red\nB. …\nD. …\nAnswer with …"
            let parts = prompt.replacingOccurrences(of: "<image>\n", with: "").components(separatedBy: "\n")
            guard parts.count == 6 else { continue }
            let options = parts[1...4].map { String($0.dropFirst(3)) }
            let index = lines.count - 1
            let png = try Data(contentsOf: data.appendingPathComponent("images/\(image)")).base64EncodedString()
            lines.append(
                ([String(index), parts[0], ""] + options
                    + [String(answer.suffix(1)), "recognition", png, "CP", "dev"]).joined(separator: "\t"))
            var box = try XCTUnwrap(boxList.first { $0["id"] as? String == id })
            box["id"] = index
            boxes.append(box)
        }
        let tsv = root.appendingPathComponent("sft_as_mmbench.tsv"),
            boxFile = root.appendingPathComponent("sft_as_mmbench_boxes.json")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: tsv)
        try JSONSerialization.data(withJSONObject: boxes).write(to: boxFile)
        return (tsv, boxFile, lines.count - 1)
    }

    /// The embedded default's promise on a CI-sized run: pretraining (LLM frozen) lowers the caption loss, SFT
    /// (from that checkpoint, LLM trained) fits its questions, and evaluation, which builds the prompt from a TSV
    /// the way upstream does, gets the trained answers back: the MMBench scorer's Average on those questions is
    /// far above chance (25 %). A mismatch between the training and evaluation prompts, a broken checkpoint
    /// hand-over or a scorer regression all fail it.
    func testPretrainThenSFTThenMMBenchEndToEnd() throws {
        try makeSmall()
        let pre = EmbeddedDefault.relocate(tiny_pretrain, dataFolder: "data", modelsFolder: "models")
            .with {
                $0.batchSize = 4; $0.maxEpochs = 8; $0.saveSteps = 6
            }
        let preDir = root.appendingPathComponent("work_dirs/pre")
        let pretrain = try TrainingRun.prepare(config: pre, workDir: preDir, root: root)
        XCTAssertTrue(pretrain.summary.contains("samples: 12 read, 12 used, 0 skipped"), pretrain.summary)
        XCTAssertTrue(pretrain.summary.contains("llm                  frozen"), pretrain.summary)
        let records = try pretrain.trainer.train()
        XCTAssertEqual(records.count, 24)
        // Measured 7.3 → 4.4 (×1.66) over these 24 steps.
        let preLoss = ends(records, 3)
        XCTAssertGreaterThan(preLoss.first / preLoss.last, 1.4, "pretrain loss \(preLoss)")
        let curve = try LossCurve.write(records, title: "pre", workDir: preDir)
        XCTAssertTrue(try String(contentsOf: curve, encoding: .utf8).contains("<polyline"))

        // SFT starts from the pretrain work dir's latest checkpoint: its weights, exactly. A 10 % warmup: the
        // from-scratch tiny LLM stalls at the uniform loss when a short run's warmup rounds to one iteration.
        let sft = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models")
            .with {
                $0.batchSize = 4; $0.maxEpochs = 12; $0.warmupRatio = 0.1; $0.pretrainedPth = "work_dirs/pre"
            }
        let run = try TrainingRun.prepare(
            config: sft, workDir: root.appendingPathComponent("work_dirs/sft"), root: root)
        XCTAssertEqual(run.pretrained?.summary.loadedPrefixes, ["bbox_projector", "fuse_module", "projector"])
        XCTAssertEqual(run.pretrained?.url.deletingLastPathComponent().lastPathComponent, "iter_24")
        let saved = try SafeTensorsFile(url: preDir.appendingPathComponent("iter_24/model.safetensors"))
        let projector = try saved.tensor("projector.model.0.weight")
        let loaded = try XCTUnwrap(run.model.namedParameters().first { $0.0 == "projector.model.0.weight" }?.1)
        XCTAssertEqual(loaded.value.float().toArray(), projector.float().toArray())
        XCTAssertTrue(run.summary.contains("llm                  trainable"), run.summary)
        let sftRecords = try run.trainer.train()
        // Measured 6.4 → 0.06 (×100) over these 72 steps.
        let sftLoss = ends(sftRecords, 6)
        XCTAssertGreaterThan(sftLoss.first / sftLoss.last, 8, "SFT loss \(sftLoss)")

        // Its own multiple-choice questions, as an MMBench TSV through the evaluator and the scorer.
        let (tsv, boxFile, rows) = try mmbenchFromSFTRecords()
        XCTAssertGreaterThanOrEqual(rows, 6)
        let dataset = try MultipleChoiceDataset.load(tsv)
        run.model.eval()
        let pipeline = try InferencePipeline(
            model: run.model, tokenizer: run.tokenizer, template: .vicuna, imageSizeAux: 128)
        let evaluator = MultipleChoiceEvaluator(
            pipeline: pipeline, boxes: try BoxIndex.load(contentsOf: boxFile),
            maxNewTokens: 4)
        let predictions = try evaluator.predictAll(dataset)
        XCTAssertEqual(predictions.count, rows)
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions)
        let average = try XCTUnwrap(scores["Average"])
        // Measured 100 % (10 questions).
        XCTAssertGreaterThanOrEqual(average, 0.8, "Average \(average) on the trained questions: \(predictions)")
    }

    func testSFTStartsFromAnUpstreamPth() throws {
        try makeSmall()
        // The fixture Vicuna folder with its tokenizer next to it, as an HF download has them.
        let llm = root.appendingPathComponent("vicuna-tiny")
        try FileManager.default.copyItem(at: Fixtures.url("models/vicuna-tiny"), to: llm)
        for file in ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(
                at: Fixtures.url("tokenizers/vicuna-tiny/\(file)"),
                to: llm.appendingPathComponent(file))
        }
        let pth = Fixtures.url("models/mgllava-tiny/pretrain.pth")
        let config = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models").with {
            $0.llmNameOrPath = llm.path
            $0.visualEncoderNameOrPath = Fixtures.url("models/clip-vit-tiny").path
            $0.visualEncoderAuxPath = Fixtures.url("models/convnext-tiny").path
            $0.pretrainedPth = pth.path
            $0.batchSize = 4
        }
        let run = try TrainingRun.prepare(config: config, workDir: root.appendingPathComponent("w"), root: root)
        XCTAssertEqual(run.pretrained?.url, pth)
        XCTAssertEqual(run.pretrained?.summary.loadedPrefixes, ["bbox_projector", "fuse_module", "projector"])
        let weights = try Checkpoint.open(pth)
        XCTAssertGreaterThan(weights.keys.count, 10)
        let parameters = Dictionary(run.model.namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for key in weights.keys {
            let loaded = try XCTUnwrap(parameters[key], key)
            XCTAssertEqual(loaded.value.float().toArray(), try weights.tensor(key).float().toArray(), key)
        }
        XCTAssertTrue(try run.trainer.step()?.loss.isFinite ?? false)
        // A missing pretrained_pth is a clear error naming it.
        XCTAssertThrowsError(
            try TrainingRun.prepare(
                config: config.with { $0.pretrainedPth = "nope/iter_9.pth" },
                workDir: root.appendingPathComponent("x"), root: root)
        ) {
            XCTAssertTrue("\($0)".contains("nope/iter_9.pth does not exist"), "\($0)")
        }
    }

    func testOfflineProcessedTextFolderGivesTheSameSamples() throws {
        try makeSmall()
        let config = EmbeddedDefault.relocate(tiny_sft, dataFolder: "data", modelsFolder: "models")
            .with {
                $0.batchSize = 4; $0.pretrainedPth = nil; $0.stage = .pretrain
            }
        let tokenizer = try Tokenizer.load(directory: root.appendingPathComponent("models/llm"))
        let records = try LLaVARecord.load(contentsOf: root.appendingPathComponent(config.dataPath))
        let folder = root.appendingPathComponent("processed")
        let meta = try ProcessedTextCache.write(
            records: records, dataPath: config.dataPath, tokenizer: tokenizer,
            template: .vicuna, maxLength: config.maxLength, to: folder)
        XCTAssertEqual(meta.records, records.count)

        let direct = try TrainingRun.prepare(config: config, workDir: root.appendingPathComponent("a"), root: root)
        let cached = try TrainingRun.prepare(
            config: config.with { $0.offlineProcessedTextFolder = "processed" },
            workDir: root.appendingPathComponent("b"), root: root)
        XCTAssertEqual(cached.dataset.count, direct.dataset.count)
        for i in 0..<direct.dataset.count {
            XCTAssertEqual(cached.dataset.encoding(at: i), direct.dataset.encoding(at: i))
            XCTAssertEqual(cached.dataset.records[i], direct.dataset.records[i])
        }
        XCTAssertEqual(try cached.trainer.step()?.loss, try direct.trainer.step()?.loss)

        // A cache made for another max_length or template is refused, naming what differs.
        XCTAssertThrowsError(
            try ProcessedTextCache.load(folder, template: .vicuna, maxLength: 99, tokenizer: tokenizer)
        ) {
            XCTAssertTrue("\($0)".contains("max_length \(config.maxLength) ≠ 99"), "\($0)")
        }
        XCTAssertThrowsError(
            try ProcessedTextCache.load(
                folder, template: .phi3Chat, maxLength: config.maxLength,
                tokenizer: tokenizer)
        ) {
            XCTAssertTrue("\($0)".contains("template vicuna ≠ phi3_chat"), "\($0)")
        }
        // A tampered line (an id outside the vocabulary) names the file and line; a truncated file is caught.
        let lines = try String(
            contentsOf: folder.appendingPathComponent(ProcessedTextCache.recordsFile), encoding: .utf8
        )
        .split(separator: "\n").map(String.init)
        var tampered = lines
        tampered[1] = tampered[1].replacingOccurrences(of: "\"input_ids\":[1,", with: "\"input_ids\":[999999,")
        try tampered.joined(separator: "\n").write(
            to: folder.appendingPathComponent(ProcessedTextCache.recordsFile),
            atomically: true, encoding: .utf8)
        XCTAssertThrowsError(
            try ProcessedTextCache.load(
                folder, template: .vicuna, maxLength: config.maxLength,
                tokenizer: tokenizer)
        ) {
            XCTAssertTrue("\($0)".contains("records.jsonl: record 1: line 2: position 0: input id 999999"), "\($0)")
        }
        try lines.dropLast().joined(separator: "\n").write(
            to: folder.appendingPathComponent(ProcessedTextCache.recordsFile),
            atomically: true, encoding: .utf8)
        XCTAssertThrowsError(
            try ProcessedTextCache.load(
                folder, template: .vicuna, maxLength: config.maxLength,
                tokenizer: tokenizer)
        ) {
            XCTAssertTrue("\($0)".contains("truncated"), "\($0)")
        }
    }

    func testLossCurveSVG() throws {
        let records = (1...30).map {
            TrainMetricsRecord(
                iteration: $0, step: $0, epoch: 0, loss: 5 / Double($0), lr: 1e-3, gradNorm: 1, tokens: 10)
        }
        let svg = LossCurve.svg(records, title: "a <b> & c")
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.contains("a &lt;b&gt; &amp; c"))
        let polylines = svg.components(separatedBy: "<polyline").dropFirst()
        XCTAssertEqual(polylines.count, 2)
        for line in polylines {
            let points = line.components(separatedBy: "points=\"")[1].components(separatedBy: "\"")[0]
            XCTAssertEqual(points.split(separator: " ").count, 30)
        }
        XCTAssertTrue(svg.contains("loss 5.0000 →"))
        XCTAssertTrue(LossCurve.svg([], title: "x").contains("no finite loss recorded"))
    }
}
