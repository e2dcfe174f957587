import XCTest
import MGLLaVA
import MGTestSupport

/// The assembled MG-LLaVA on the tiny stack vs the reference (Tests/Fixtures/reference/mgllava-e2e-*, checked
/// against upstream's code): fused features, projector, RoI means, bbox projector, spliced inputs, logits, loss and
/// the trainable gradients for pretrain (LLM frozen) and SFT (LLM trainable, bf16 `.pth`), and greedy generation.
final class MGLLaVAEndToEndTests: XCTestCase {
    struct Fixture {
        var samples: [MultimodalSample]
        var generate: [String: Any]
    }

    func loadModel(_ pth: String, frozen: Bool = false) throws -> MGLLaVAModel {
        try MGLLaVAModel.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/\(pth)"), frozen: frozen)
    }

    func fixture() throws -> Fixture {
        let inputs = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-inputs.safetensors"))
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("reference/mgllava-e2e.json")))
            as? [String: Any]
        guard let samplesJSON = json?["samples"] as? [[String: Any]], let generate = json?["generate"] as? [String: Any]
        else {
            throw MGLLaVALoadError(source: "mgllava-e2e.json", reason: "unexpected layout")
        }
        let pixels = try inputs.tensor("input.pixel_values"), aux = try inputs.tensor("input.pixel_values_aux")
        var samples: [MultimodalSample] = []
        for (i, s) in samplesJSON.enumerated() {
            let b = try inputs.tensor("input.boxes_\(i)").toArray()
            let boxes = (0..<(b.count / 4)).map { RoIBox(b[4 * $0], b[4 * $0 + 1], b[4 * $0 + 2], b[4 * $0 + 3]) }
            samples.append(
                MultimodalSample(
                    inputIds: s["input_ids"] as? [Int] ?? [], labels: s["labels"] as? [Int],
                    pixelValues: pixels.select(axis: 0, i), pixelValuesAux: aux.select(axis: 0, i),
                    boxes: boxes))
        }
        return Fixture(samples: samples, generate: generate)
    }

    func check(
        _ actual: Tensor?, _ ref: SafeTensorsFile, _ key: String, atol: Float, rtol: Float = 1e-4,
        line: UInt = #line
    ) throws {
        guard let actual else { return XCTFail("\(key): missing", line: line) }
        let r = compare(actual, try ref.tensor(key), atol: atol, rtol: rtol)
        XCTAssertTrue(r.ok, "\(key): \(r.message)", line: line)
    }

    func runStage(_ stage: String, pth: String, trainLLM: Bool) throws {
        let model = try loadModel(pth)
        if !trainLLM { model.freeze(prefix: "llm") }
        let ref = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-\(stage).safetensors"))
        let fx = try fixture()
        let out = model(fx.samples)
        try check(out.inputs.fused, ref, "output.fused", atol: 1e-5)
        try check(out.inputs.imageTokens, ref, "output.projector", atol: 1e-5)
        for i in 0..<2 {
            try check(out.inputs.boxFeatures[i], ref, "output.roi_mean_\(i)", atol: 1e-5)
            try check(out.inputs.boxTokens[i], ref, "output.bbox_projector_\(i)", atol: 1e-5)
        }
        try check(out.inputs.inputsEmbeds, ref, "output.inputs_embeds", atol: 1e-5)
        XCTAssertEqual(out.inputs.labels.flatMap { $0 }, try ref.tensor("output.labels").toInt64Array().map { Int($0) })
        XCTAssertEqual(
            out.inputs.attentionMask.flatMap { $0 },
            try ref.tensor("output.attention_mask").toInt64Array().map { Int($0) })
        // Logits only where the mask is 1.
        let mask = out.inputs.attentionMask.flatMap { $0 }
        let logits = out.logits.toArray(), expected = try ref.tensor("output.logits").toArray()
        let v = out.logits.shape[2]
        var worst: Float = 0
        for (t, m) in mask.enumerated() where m == 1 {
            for j in 0..<v { worst = max(worst, abs(logits[t * v + j] - expected[t * v + j])) }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(stage) logits")
        XCTAssertEqual(out.loss.item(), try ref.tensor("output.loss").item(), accuracy: 1e-5, "\(stage) loss")
        out.loss.backward()
        let gradKeys = ref.keys.filter { $0.hasPrefix("grad.") }
        XCTAssertFalse(gradKeys.isEmpty)
        let params = Dictionary(model.namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for key in gradKeys {
            let name = String(key.dropFirst("grad.".count))
            guard let p = params[name], let g = p.grad else { XCTFail("\(stage): no gradient for \(name)"); continue }
            try check(g, ref, key, atol: 1e-5, rtol: 1e-3)
        }
        // Nothing outside the stage's trainable set received a gradient.
        let trainable = model.namedParameters().filter { $0.1.grad != nil }.map { $0.0 }
        XCTAssertEqual(Set(trainable), Set(gradKeys.map { String($0.dropFirst(5)) }), "\(stage) trainable set")
    }

    func testPretrainStage() throws { try runStage("pretrain", pth: "pretrain.pth", trainLLM: false) }

    func testSFTStage() throws { try runStage("sft", pth: "sft.pth", trainLLM: true) }

    func testGreedyGeneration() throws { try checkGeneration(frozen: false) }

    /// Inference mode: every weight used in place in its stored dtype (the SFT .pth is bf16: nothing is widened
    /// to a float32 copy) gives the same tokens and logits with the widening kernel, and the same greedy tokens with
    /// bf16 dot products (the default where the CPU has AVX512-BF16), its logits within bf16 rounding.
    func testGreedyGenerationWithWeightsInPlace() throws {
        let model = try loadModel("sft.pth", frozen: true)
        XCTAssertEqual(model.llm.embedTokens.weight.value.dtype, .bfloat16)
        XCTAssertTrue(model.llm.embedTokens.weight.isInPlace)
        XCTAssertEqual(model.trainableParameterCount, 0)
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        HalfPrecision.kernel = .widenedFloat32
        try checkGeneration(frozen: true)
        HalfPrecision.kernel = .bf16
        try checkGeneration(frozen: true, tolerance: (logits: 5e-2, embeddings: 2e-2))
    }

    /// `tolerance`: absolute and relative, for the first step's logits and the input embeddings (float32 by
    /// default).
    func checkGeneration(frozen: Bool, tolerance: (logits: Float, embeddings: Float) = (1e-4, 1e-5)) throws {
        let model = try loadModel("sft.pth", frozen: frozen)
        let ref = try SafeTensorsFile(url: Fixtures.url("reference/mgllava-e2e-generate.safetensors"))
        let fx = try fixture()
        let ids = try ref.tensor("input.input_ids").toInt64Array().map { Int($0) }
        let b = try ref.tensor("input.boxes").toArray()
        let boxes = (0..<(b.count / 4)).map { RoIBox(b[4 * $0], b[4 * $0 + 1], b[4 * $0 + 2], b[4 * $0 + 3]) }
        var sample = fx.samples[0]
        sample.inputIds = ids
        sample.labels = nil
        sample.boxes = boxes
        let generated: [Int] = withNoGrad {
            let inputs = model.prepareInputs([sample])
            let cache = KVCache(architecture: model.llm.architecture, batch: 1, capacity: 128)
            var out = model.llm(inputsEmbeds: inputs.inputsEmbeds, cache: cache, logitsForLastOnly: true)
            let first = out.logits!.reshaped([-1])
            let r = compare(
                first, try! ref.tensor("output.first_step_logits"), atol: tolerance.logits,
                rtol: max(1e-4, tolerance.logits))
            XCTAssertTrue(r.ok, "first step logits: \(r.message)")
            let e = compare(
                inputs.inputsEmbeds, try! ref.tensor("output.inputs_embeds"), atol: tolerance.embeddings,
                rtol: max(1e-4, tolerance.embeddings))
            XCTAssertTrue(e.ok, "inputs_embeds: \(e.message)")
            var tokens: [Int] = []
            for _ in 0..<16 {
                let next = out.logits!.reshaped([-1]).argmax(axis: 0)[0]
                tokens.append(next)
                if next == 2 { break }
                out = model.llm(inputsEmbeds: model.llm.embed([[next]]), cache: cache, logitsForLastOnly: true)
            }
            return tokens
        }
        XCTAssertEqual(generated, try ref.tensor("output.generated_ids").toInt64Array().map { Int($0) })
    }

    /// Several images with prompts of different lengths, and a text-only prompt, generated as one left-padded batch
    /// give exactly the tokens each gives alone; the towers and the splice run batched give each row's embeddings.
    func testBatchedMultimodalGenerationEqualsOneByOne() throws {
        let model = try loadModel("sft.pth", frozen: true)
        model.eval()
        let fx = try fixture()
        XCTAssertGreaterThanOrEqual(fx.samples.count, 2)
        let imageSlot = try XCTUnwrap(fx.samples[0].inputIds.firstIndex(of: MGLLaVAModel.imageTokenIndex))
        var rows: [MultimodalSample] = []
        for (i, base) in fx.samples.prefix(2).enumerated() {
            var sample = base
            sample.labels = nil
            // Different prompt lengths: cut the text after the image by a different amount per row.
            let keep = max(imageSlot + 2, sample.inputIds.count - 3 - 4 * i)
            sample.inputIds = Array(sample.inputIds.prefix(keep))
            rows.append(sample)
        }
        var textOnly = MultimodalSample(
            inputIds: Array(fx.samples[0].inputIds.filter { $0 != MGLLaVAModel.imageTokenIndex }.prefix(9)))
        textOnly.labels = nil
        rows.append(textOnly)
        rows.append(rows[1])  // the same image twice in one batch

        let alone = rows.map { row in withNoGrad { model.prepareInputs([row]).inputsEmbeds.squeezed(0) } }
        XCTAssertEqual(Set(alone.map { $0.shape[0] }).count, 3, "prompt lengths must differ")
        // The batched preparation (towers over several images, right-padded rows) gives each row's embeddings.
        let batch = withNoGrad { model.prepareInputs(rows) }
        for (i, single) in alone.enumerated() {
            let length = batch.attentionMask[i].reduce(0, +)
            XCTAssertEqual(length, single.shape[0], "row \(i)")
            let row = batch.inputsEmbeds.select(axis: 0, i).slice(axis: 0, 0, length)
            let r = compare(row, single, atol: 1e-5, rtol: 1e-4)
            XCTAssertTrue(r.ok, "row \(i) embeddings: \(r.message)")
        }
        let config = GenerationConfig(maxNewTokens: 8)
        let together = model.llm.generate(prompts: alone, config: config)
        for (i, single) in alone.enumerated() {
            XCTAssertEqual(together[i], model.llm.generate(prompts: [single], config: config)[0], "row \(i)")
            XCTAssertEqual(together[i].count, 8, "row \(i)")
        }
        XCTAssertEqual(together[1], together[3], "the same sample in two rows")
    }
}
