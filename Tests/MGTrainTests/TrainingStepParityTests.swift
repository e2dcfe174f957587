import Foundation
import MGConfigs
@testable import MGTrain
import MGTestSupport
import XCTest

/// One optimizer step of the trainer on the reference batch (Tests/Fixtures/reference/mgllava-e2e-*) for both
/// stages: the trainable set is the stage's, and every weight moves as AdamW's first step does with the reference
/// gradients after global-norm clipping, Δ = −lr · ĝ / (|ĝ| + ε) with ĝ = clip(g).
final class TrainingStepParityTests: XCTestCase {
    private var workDir: URL!

    override func setUpWithError() throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("mgstep-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: workDir) }

    /// The reference batch: ids, labels, preprocessed pixels and pipeline boxes as upstream computed them.
    private func referenceBatch() throws -> [MultimodalSample] {
        let inputs = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-inputs.safetensors"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("reference/mgllava-e2e.json")))
        let samples = try XCTUnwrap((json as? [String: Any])?["samples"] as? [[String: Any]])
        let pixels = try inputs.tensor("input.pixel_values"), aux = try inputs.tensor("input.pixel_values_aux")
        return try samples.enumerated().map { i, s in
            let b = try inputs.tensor("input.boxes_\(i)").toArray()
            return MultimodalSample(
                inputIds: try XCTUnwrap(s["input_ids"] as? [Int]), labels: s["labels"] as? [Int],
                pixelValues: pixels.select(axis: 0, i), pixelValuesAux: aux.select(axis: 0, i),
                boxes: (0..<(b.count / 4)).map { RoIBox(b[4 * $0], b[4 * $0 + 1], b[4 * $0 + 2], b[4 * $0 + 3]) })
        }
    }

    /// A one-record dataset: the trainer needs one for its sampler; the step itself is fed the reference batch.
    private func placeholderDataset() throws -> LLaVADataset {
        let record = LLaVARecord(
            id: "0", image: nil,
            conversations: [
                ConversationMessage(from: "human", value: "hi"),
                ConversationMessage(from: "gpt", value: "yes")
            ])
        return try LLaVADataset(
            records: [record], imageFolder: workDir, boxes: nil,
            tokenizer: try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny")),
            template: .vicuna, maxLength: 64)
    }

    private func checkStep(stage: String, base: TrainConfig, pth: String) throws {
        let model = try MGLLaVAModel.load(
            llm: Fixtures.url("models/vicuna-tiny"),
            visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/\(pth)"))
        let lr = 1e-3
        let config = base.with {
            $0.batchSize = 2; $0.warmupRatio = 0; $0.lr = lr; $0.maxNorm = 1; $0.weightDecay = 0
        }
        let trainer = try Trainer(config: config, model: model, dataset: try placeholderDataset(), workDir: workDir)
        let before = Dictionary(
            model.namedParameters().map { ($0.0, $0.1.value.float().toArray()) }, uniquingKeysWith: { a, _ in a })
        let batch = try referenceBatch()
        let record = try XCTUnwrap(try trainer.step(drawing: { batch }))

        let ref = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-\(stage).safetensors"))
        XCTAssertEqual(record.loss, Double(try ref.tensor("output.loss").item()), accuracy: 1e-5)
        let gradKeys = ref.keys.filter { $0.hasPrefix("grad.") }
        let trainable = Set(model.namedParameters().filter { !$0.1.frozen }.map(\.0))
        XCTAssertEqual(trainable, Set(gradKeys.map { String($0.dropFirst(5)) }), "\(stage): trainable set")

        var squares = 0.0
        var grads: [String: [Float]] = [:]
        for key in gradKeys {
            let g = try ref.tensor(key).float().toArray()
            grads[String(key.dropFirst(5))] = g
            squares += g.reduce(0) { $0 + Double($1) * Double($1) }
        }
        let norm = squares.squareRoot()
        XCTAssertEqual(record.gradNorm, norm, accuracy: norm * 1e-4, "\(stage): gradient norm before clipping")
        let scale = Float(min(1, config.maxNorm / (norm + 1e-6)))
        let params = Dictionary(model.namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for (name, g) in grads {
            let after = try XCTUnwrap(params[name]).value.float().toArray()
            let start = try XCTUnwrap(before[name])
            var worst: Float = 0, illConditioned = 0
            for i in g.indices {
                let clipped = g[i] * scale
                let expected = -Float(lr) * clipped / (abs(clipped) + 1e-8)
                let error = abs((after[i] - start[i]) - expected)
                // Where |ĝ| is within a few ε the step is ĝ/(|ĝ|+ε) itself, so float32 gradient noise of ~1e-8
                // moves it by up to lr; elsewhere it is ±lr to within a fraction of a percent.
                // (Exact zeros, e.g. embedding rows of tokens not in the batch, must not move at all.)
                if clipped != 0 && abs(clipped) < 1e-6 {
                    illConditioned += 1
                    XCTAssertLessThanOrEqual(error, Float(lr) * 1.01, "\(stage): \(name)[\(i)]")
                } else {
                    worst = max(worst, error)
                }
            }
            XCTAssertLessThanOrEqual(worst, Float(lr) * 0.01, "\(stage): \(name)")
            XCTAssertLessThan(
                Double(illConditioned), Double(g.count) * 0.05, "\(stage): \(name) has mostly tiny gradients")
        }
        // Frozen weights did not move: every one of them, bit for bit.
        var frozenChecked = 0
        for (name, parameter) in params where parameter.frozen {
            XCTAssertEqual(parameter.value.float().toArray(), before[name], name)
            frozenChecked += 1
        }
        XCTAssertGreaterThan(frozenChecked, 0, "\(stage): no frozen parameter was checked")
    }

    func testPretrainStep() throws { try checkStep(stage: "pretrain", base: tiny_pretrain, pth: "pretrain.pth") }

    func testSFTStep() throws {
        try checkStep(stage: "sft", base: tiny_sft.with { $0.pretrainedPth = "unused" }, pth: "sft.pth")
    }
}
