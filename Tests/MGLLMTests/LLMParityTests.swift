import XCTest
import MGLLaVA
import MGTestSupport

/// The decoders vs HF transformers (eager attention) on the tiny fixture models: logits, hidden states, loss and
/// the gradient of every parameter (Tests/Fixtures/reference/llm-*.safetensors; tolerances from the fixtures
/// README: logits/hidden atol 1e-4 rtol 1e-4, loss 1e-5, grads atol 1e-5 + rtol 1e-3).
final class LLMParityTests: XCTestCase {
    func rows(_ t: Tensor) -> [[Int]] {
        let v = t.toInt64Array().map { Int($0) }, l = t.shape[1]
        return (0..<t.shape[0]).map { Array(v[($0 * l)..<(($0 + 1) * l)]) }
    }

    /// Compares only the rows where the attention mask is 1 (padding rows are not meaningful).
    func compareReal(_ actual: Tensor, _ expected: Tensor, mask: [[Int]], atol: Float, rtol: Float, _ what: String) {
        let b = actual.shape[0], l = actual.shape[1], d = actual.shape[2]
        let a = actual.toArray(), e = expected.toArray()
        var worst: Float = 0
        for bi in 0..<b {
            for t in 0..<l where mask[bi][t] == 1 {
                for j in 0..<d {
                    let i = (bi * l + t) * d + j
                    let diff = abs(a[i] - e[i])
                    worst = max(worst, diff)
                    if !(diff <= atol + rtol * abs(e[i])) {
                        XCTFail("\(what)[\(bi), \(t), \(j)]: \(a[i]) vs \(e[i])")
                        return
                    }
                }
            }
        }
    }

    func checkModel(_ name: String, checkpointing: Bool = false) throws {
        let model = try CausalLM.load(directory: Fixtures.url("models/\(name)"))
        model.gradientCheckpointing = checkpointing
        let ref = try SafeTensorsFile(url: Fixtures.url("reference/llm-\(name).safetensors"))
        let ids = rows(try ref.tensor("input.input_ids"))
        let mask = rows(try ref.tensor("input.attention_mask"))
        let labels = rows(try ref.tensor("input.labels"))
        let out = model(inputsEmbeds: model.embed(ids), attentionMask: mask, outputHiddenStates: true)
        guard let logits = out.logits else { return XCTFail("no logits") }
        compareReal(logits, try ref.tensor("output.logits"), mask: mask, atol: 1e-4, rtol: 1e-4, "\(name) logits")
        XCTAssertEqual(out.hiddenStates.count, 3)
        for i in 0..<3 {
            compareReal(
                out.hiddenStates[i], try ref.tensor("output.hidden_states.\(i)"), mask: mask, atol: 1e-4,
                rtol: 1e-4, "\(name) hidden_states.\(i)")
        }
        let loss = CausalLM.causalLoss(logits: logits, labels: labels)
        XCTAssertEqual(loss.item(), try ref.tensor("output.loss").item(), accuracy: 1e-5, "\(name) loss")
        loss.backward()
        var checked = 0
        for (key, p) in model.namedParameters() {
            guard let g = p.grad else { XCTFail("\(name): no gradient for \(key)"); continue }
            let r = compare(g, try ref.tensor("grad.\(key)"), atol: 1e-5, rtol: 1e-3)
            XCTAssertTrue(r.ok, "\(name) grad.\(key): \(r.message)")
            checked += 1
        }
        XCTAssertEqual(checked, ref.keys.filter { $0.hasPrefix("grad.") }.count, "every parameter's gradient checked")
    }

    func testVicuna() throws { try checkModel("vicuna-tiny") }
    func testLlama3GQA() throws { try checkModel("llama3-tiny") }
    func testPhi3Fused() throws { try checkModel("phi3-tiny") }
    // Activation checkpointing recomputes each layer in backward: the same loss and gradients as HF.
    func testVicunaCheckpointed() throws { try checkModel("vicuna-tiny", checkpointing: true) }
    func testPhi3Checkpointed() throws { try checkModel("phi3-tiny", checkpointing: true) }

    /// A frozen LLM under checkpointing (MG-LLaVA's pretraining): the gradient reaching the input embeddings is
    /// the one without checkpointing, and the frozen weights get none.
    func testFrozenCheckpointedInputGradient() throws {
        let model = try CausalLM.load(directory: Fixtures.url("models/llama3-tiny"))
        model.freeze()
        var gen = Generator(seed: 7)
        let x = Tensor.randn([2, 9, model.architecture.hiddenSize], generator: &gen)
        let labels = (0..<2).map { _ in (0..<9).map { _ in gen.nextInt(below: model.architecture.vocabSize) } }
        var grads: [Tensor] = []
        for checkpointing in [false, true] {
            model.gradientCheckpointing = checkpointing
            let leaf = x.requiringGrad()
            guard let logits = model(inputsEmbeds: leaf).logits else { return XCTFail("no logits") }
            CausalLM.causalLoss(logits: logits, labels: labels).backward()
            guard let g = leaf.grad else { return XCTFail("no input gradient (checkpointing \(checkpointing))") }
            grads.append(g)
        }
        let r = compare(grads[1], grads[0], atol: 1e-6, rtol: 1e-5)
        XCTAssertTrue(r.ok, "input gradient with vs without checkpointing: \(r.message)")
        XCTAssertTrue(model.namedParameters().allSatisfy { $0.1.grad == nil }, "a frozen weight got a gradient")
    }

    /// Greedy decoding with the KV cache reproduces transformers' `generate` token for token, and the top-5
    /// log-probabilities of every step.
    func testGreedyGenerationWithCache() throws {
        for name in ["vicuna-tiny", "llama3-tiny", "phi3-tiny"] {
            let model = try CausalLM.load(directory: Fixtures.url("models/\(name)"))
            let data = try Data(contentsOf: Fixtures.url("reference/llm-\(name)-generate.json"))
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                let prompt = json["prompt_ids"] as? [Int], let expected = json["new_tokens"] as? [Int],
                let steps = json["steps"] as? [[String: Any]]
            else { return XCTFail("bad generate fixture") }
            let cache = KVCache(architecture: model.architecture, batch: 1, capacity: 8)  // grows while decoding
            var tokens: [Int] = []
            var next = prompt
            withNoGrad {
                for step in 0..<expected.count {
                    let out = model(inputsEmbeds: model.embed([next]), cache: cache, logitsForLastOnly: true)
                    let logp = out.logits!.reshaped([-1]).logSoftmax(axis: 0).toArray()
                    let top = logp.indices.sorted { logp[$0] > logp[$1] }.prefix(5)
                    // Every step must carry its top-5: a renamed key fails instead of comparing nothing.
                    guard step < steps.count, let ids = steps[step]["top5_ids"] as? [Int],
                        let lps = steps[step]["top5_logprobs"] as? [Double], ids.count == 5, lps.count == 5
                    else {
                        return XCTFail("\(name) step \(step): the fixture has no top5_ids/top5_logprobs")
                    }
                    XCTAssertEqual(Array(top), ids, "\(name) step \(step) top-5")
                    for (i, id) in ids.enumerated() {
                        XCTAssertEqual(Double(logp[id]), lps[i], accuracy: 1e-4, "\(name) step \(step) logprob")
                    }
                    guard let best = top.first else { return XCTFail("\(name): empty logits") }
                    tokens.append(best)
                    next = [best]
                }
            }
            XCTAssertEqual(tokens, expected, name)
        }
    }
}
