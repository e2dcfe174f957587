import Foundation
import MGConfigs
@testable import MGTrain
import MGTestSupport
import XCTest

/// Gradient accumulation against PyTorch with mmengine's semantics (Tests/Fixtures/reference/accumulation-step.*):
/// two micro-batches (the first two padded samples, the second one) with `accumulative_counts = 2` make one step
/// whose loss is the mean of the micro-batch means, whose gradient is Σ ∇loss_i / 2, clipped to norm 1, and whose
/// AdamW update moves every LLM weight as torch.optim.AdamW moved it.
final class AccumulationStepTests: XCTestCase {
    private var workDir: URL!

    override func setUpWithError() throws {
        workDir = FileManager.default.temporaryDirectory.appendingPathComponent("mgaccum-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: workDir) }

    struct Reference: Decodable {
        struct Sample: Decodable { let input_ids: [Int]; let labels: [Int] }
        let lr: Double
        let max_norm: Double
        let accumulative_counts: Int
        let micro_batches: [[Sample]]
        let losses: [Double]
        let grad_norm: Double
    }

    func testTwoMicroBatchesEqualPyTorchWithMMEngineAccumulation() throws {
        let ref = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: Fixtures.url("reference/accumulation-step.json")))
        let tensors = try SafeTensorsFile(url: Fixtures.url("reference/accumulation-step.safetensors"))
        let model = try MGLLaVAModel.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"))
        // Two one-sample batches per epoch, one epoch, two per step: N = 2 iterations, one optimizer step, whose lr
        // is the cosine schedule's at iteration 1 (base × (1 + cos(π/2)) / 2 = base / 2).
        let records = (0..<2).map { i in
            LLaVARecord(
                id: "\(i)", image: nil,
                conversations: [
                    ConversationMessage(from: "human", value: "hi"),
                    ConversationMessage(from: "gpt", value: "yes")
                ])
        }
        let dataset = try LLaVADataset(
            records: records, imageFolder: workDir, boxes: nil,
            tokenizer: try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny")),
            template: .vicuna, maxLength: 64)
        let config = tiny_sft.with {
            $0.batchSize = 1; $0.accumulativeCounts = ref.accumulative_counts; $0.maxEpochs = 1; $0.warmupRatio = 0
            $0.lr = ref.lr * 2; $0.maxNorm = ref.max_norm; $0.weightDecay = 0; $0.betas = [0.9, 0.999]
        }
        let trainer = try Trainer(config: config, model: model, dataset: dataset, workDir: workDir)
        XCTAssertEqual(trainer.totalIterations, 2)
        var feed = ref.micro_batches.map { batch in
            batch.map { MultimodalSample(inputIds: $0.input_ids, labels: $0.labels) }
        }
        let record = try XCTUnwrap(try trainer.step(drawing: { feed.removeFirst() }))
        XCTAssertTrue(feed.isEmpty, "one step draws both micro-batches")
        XCTAssertEqual(record.lr, ref.lr, accuracy: 1e-12)
        XCTAssertEqual(record.loss, ref.losses.reduce(0, +) / Double(ref.losses.count), accuracy: 1e-5)
        XCTAssertEqual(record.gradNorm, ref.grad_norm, accuracy: 1e-4 * ref.grad_norm)

        // Every LLM weight: AdamW's first step is −lr·ĝ/(|ĝ| + ε), so a weight moves by ±lr unless its clipped
        // gradient is near ε, where the sign of a 1e-9 rounding difference decides; there any move up to lr passes.
        let scale = min(1, ref.max_norm / ref.grad_norm)
        let live = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1) })
        var checked = 0
        for key in tensors.keys where key.hasPrefix("after.") {
            let name = String(key.dropFirst("after.".count))
            let parameter = try XCTUnwrap(live["llm.\(name)"], name)
            let expected = try tensors.tensor(key).toArray(), actual = parameter.value.float().toArray()
            let gradient = try tensors.tensor("grad.\(name)").toArray()
            XCTAssertEqual(expected.count, actual.count, name)
            var worst: Float = 0
            for i in expected.indices {
                let error = abs(expected[i] - actual[i])
                if abs(gradient[i]) * Float(scale) < 1e-6 {
                    XCTAssertLessThanOrEqual(error, Float(ref.lr) * 1.01, "\(name)[\(i)]")
                } else {
                    worst = max(worst, error)
                }
            }
            XCTAssertLessThanOrEqual(worst, Float(ref.lr) * 0.01, name)
            checked += 1
        }
        XCTAssertEqual(checked, model.namedParameters().filter { $0.0.hasPrefix("llm.") }.count)
    }
}
