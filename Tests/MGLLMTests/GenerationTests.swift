import XCTest
import MGLLaVA
import MGTestSupport

final class GenerationTests: XCTestCase {
    func model(_ name: String) throws -> CausalLM { try CausalLM.load(directory: Fixtures.url("models/\(name)")) }

    func reference(_ name: String) throws -> (prompt: [Int], tokens: [Int]) {
        let json =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("reference/llm-\(name)-generate.json"))) as? [String: Any]
        // A renamed or missing key must fail, not compare two empty lists.
        let prompt = try XCTUnwrap(json?["prompt_ids"] as? [Int], "\(name): prompt_ids")
        let tokens = try XCTUnwrap(json?["new_tokens"] as? [Int], "\(name): new_tokens")
        XCTAssertFalse(prompt.isEmpty || tokens.isEmpty, name)
        return (prompt, tokens)
    }

    func testGreedyGenerateMatchesTransformers() throws {
        for name in ["vicuna-tiny", "llama3-tiny", "phi3-tiny"] {
            let m = try model(name)
            let (prompt, expected) = try reference(name)
            let out = m.generate(
                prompts: [withNoGrad { m.embed([prompt]) }.squeezed(0)],
                config: GenerationConfig(maxNewTokens: expected.count))
            XCTAssertEqual(out[0], expected, name)
        }
    }

    /// A left-padded batch yields the same tokens as each prompt alone (greedy and seeded sampling).
    func testBatchEqualsOneByOne() throws {
        let m = try model("llama3-tiny")
        let prompts = [[900, 12, 45, 7, 300, 81, 5], [900, 77], [900, 5, 9, 600, 43]]
        let embeds = prompts.map { p in withNoGrad { m.embed([p]) }.squeezed(0) }
        for sampling in [SamplingConfig.greedy, SamplingConfig(temperature: 0.8, topK: 50, topP: 0.9, seed: 3)] {
            let config = GenerationConfig(maxNewTokens: 12, sampling: sampling)
            let batch = m.generate(prompts: embeds, config: config)
            for (i, e) in embeds.enumerated() {
                XCTAssertEqual(
                    batch[i], m.generate(prompts: [e], config: config)[0],
                    "row \(i), temperature \(sampling.temperature)")
            }
        }
    }

    func testStopTokensAndStreaming() throws {
        let m = try model("vicuna-tiny")
        let (prompt, expected) = try reference("vicuna-tiny")
        let stop = expected[5]
        var streamed: [Int] = []
        let out = m.generate(
            prompts: [withNoGrad { m.embed([prompt]) }.squeezed(0)],
            config: GenerationConfig(maxNewTokens: 20, stopTokenIds: [stop])
        ) { step in
            streamed.append(step.token)
            XCTAssertEqual(step.topLogprobs.count, 5)
            XCTAssertEqual(step.topLogprobs[0].0, step.token, "greedy picks the top-1")
            return true
        }
        XCTAssertEqual(out[0], Array(expected.prefix(6)), "stops after (and keeps) the stop token")
        XCTAssertEqual(streamed, out[0])
    }

    func testSamplerSemantics() {
        let logits: [Float] = [2.0, 1.0, 0.5, -1.0, 3.0]
        logits.withUnsafeBufferPointer { row in
            var greedy = TokenSampler(.greedy)
            XCTAssertEqual(greedy.next(row), 4)
            var topK1 = TokenSampler(SamplingConfig(temperature: 1, topK: 1, seed: 1))
            XCTAssertEqual((0..<20).map { _ in topK1.next(row) }, [Int](repeating: 4, count: 20))
            var tinyP = TokenSampler(SamplingConfig(temperature: 1, topP: 0.01, seed: 2))
            XCTAssertEqual((0..<20).map { _ in tinyP.next(row) }, [Int](repeating: 4, count: 20))
            // Same seed, same draws.
            var a = TokenSampler(SamplingConfig(temperature: 1.3, seed: 9)),
                b = TokenSampler(SamplingConfig(temperature: 1.3, seed: 9))
            XCTAssertEqual((0..<50).map { _ in a.next(row) }, (0..<50).map { _ in b.next(row) })
            // Frequencies follow softmax(logits / T).
            var s = TokenSampler(SamplingConfig(temperature: 2, seed: 4))
            var counts = [Int](repeating: 0, count: 5)
            let n = 20_000
            for _ in 0..<n { counts[s.next(row)] += 1 }
            let e = logits.map { Foundation.exp(Double($0) / 2) }, z = e.reduce(0, +)
            for i in 0..<5 { XCTAssertEqual(Double(counts[i]) / Double(n), e[i] / z, accuracy: 0.015, "token \(i)") }
            // top-k 2 never yields the others.
            var k2 = TokenSampler(SamplingConfig(temperature: 5, topK: 2, seed: 5))
            XCTAssertTrue((0..<200).map { _ in k2.next(row) }.allSatisfy { $0 == 4 || $0 == 0 })
        }
    }
}
