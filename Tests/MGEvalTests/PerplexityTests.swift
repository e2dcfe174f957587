import XCTest
import MGEval
import MGLLaVA
import MGTestSupport

/// `PerplexityEvaluation` against llama.cpp's `llama-perplexity` on the same GGUF files and text
/// (Tests/Fixtures/gguf/llamacpp-perplexity.json, written by scripts/make_gguf_fixtures.py).
final class PerplexityTests: XCTestCase {
    func reference() throws -> [String: Any] {
        try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("gguf/llamacpp-perplexity.json")))
                as? [String: Any])
    }

    func corpus() throws -> String {
        try String(contentsOf: Fixtures.url("gguf/corpus.txt"), encoding: .utf8)
    }

    func series(_ ref: [String: Any], _ model: String, _ key: String) throws -> [Double] {
        let entry = try XCTUnwrap(ref[model] as? [String: Any], model)
        let values = try XCTUnwrap(entry[key] as? [Double], "\(model).\(key)")
        guard values.count == 25 else {
            throw NSError(
                domain: "fixture", code: 1,
                userInfo: [NSLocalizedDescriptionKey: "\(model).\(key): \(values.count) chunks, not 25"])
        }
        return values
    }

    func run(_ name: String, chunks: Int? = nil, base: String? = nil) throws -> PerplexityEvaluation.Result {
        let path = Fixtures.url("gguf/\(name).gguf")
        return try PerplexityEvaluation.run(
            model: try CausalLM.load(gguf: path), tokenizer: try GGUFLLM(path: path.path).tokenizer(),
            text: try corpus(), context: 128, chunks: chunks,
            base: try base.map { try CausalLM.load(gguf: Fixtures.url("gguf/\($0).gguf")) })
    }

    func testFloat32PerplexityMatchesLlamaCpp() throws {
        let ref = try reference()
        XCTAssertEqual(ref["context"] as? Int, 128)
        let result = try run("vicuna-tiny-f32")
        XCTAssertEqual(result.chunks, 25)
        XCTAssertEqual(result.scoredTokens, 25 * 63)
        // llama.cpp keeps K/V in f16; three significant digits is what the issue asks, five is what we see.
        let expected = try series(ref, "vicuna-tiny-f32", "perplexity")[24]
        XCTAssertEqual(result.perplexity, expected, accuracy: 1e-4 * expected)
        XCTAssertNil(result.divergence)
    }

    /// Quantized models against their F16 source (llama-256: Q8_0 everywhere; Q4_K_M with Q4_K, Q6_K, Q5_0, Q8_0):
    /// perplexity, mean KL and top-1 agreement over the 25 chunks, as llama.cpp reports them for the same files.
    /// llama.cpp multiplies F16 weights with f16-rounded activations and keeps K/V in f16, which mgllava does not:
    /// perplexity and KL agree to three significant digits, the top-1 agreement within 1.5 points.
    func testQuantizedModelsMatchLlamaCppKLDivergence() throws {
        let ref = try reference()
        let base = "llama-256-f16"
        for model in ["llama-256-q8_0", "llama-256-q4_k_m"] {
            let result = try run(model, base: base)
            let d = try XCTUnwrap(result.divergence)
            let ppl = try series(ref, model, "perplexity")[24], kl = try series(ref, model, "mean_kl")[24]
            let top = try series(ref, model, "same_top")[24]
            XCTAssertEqual(result.perplexity, ppl, accuracy: 2e-3 * ppl, model)
            XCTAssertEqual(d.meanKL, kl, accuracy: 5e-3 * kl, model)
            XCTAssertEqual(d.topAgreement, top, accuracy: 0.015, model)
            XCTAssertEqual(d.basePerplexity, try series(ref, base, "perplexity")[24], accuracy: 1e-3 * ppl, base)
        }
    }

    /// vicuna-tiny's Q8_0 keeps ffn_down in F16 (rows of 176), where llama.cpp rounds activations to f16: its KL
    /// statistics drift further from ours, so only the perplexity is compared.
    func testQ8WithF16FallbacksMatchesLlamaCppPerplexity() throws {
        let ref = try reference()
        let result = try run("vicuna-tiny-q8_0")
        let expected = try series(ref, "vicuna-tiny-q8_0", "perplexity")[24]
        XCTAssertEqual(result.perplexity, expected, accuracy: 2e-3 * expected)
    }

    func testTooShortTextIsRefused() throws {
        let model = try CausalLM.load(gguf: Fixtures.url("gguf/vicuna-tiny-f32.gguf"))
        let tokenizer = try GGUFLLM(path: Fixtures.url("gguf/vicuna-tiny-f32.gguf").path).tokenizer()
        XCTAssertThrowsError(
            try PerplexityEvaluation.run(model: model, tokenizer: tokenizer, text: "a few words", context: 128)
        ) { error in
            XCTAssertTrue("\(error)".contains("needs at least 256"), "\(error)")
        }
    }
}
