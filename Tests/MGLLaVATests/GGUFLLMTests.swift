import XCTest
import MGCheckpoint
import MGLLaVA
import MGTestSupport

/// GGUF LLMs written by llama.cpp's own converter (`convert_hf_to_gguf.py`, see Tests/Fixtures/README.md) load as the
/// HF folder they came from.
final class GGUFLLMTests: XCTestCase {
    let prompt = [1, 15, 300, 42, 7, 650, 99, 3, 18]

    func logits(_ model: CausalLM) -> [Float] {
        withNoGrad { model(inputsEmbeds: model.embed([prompt])).logits! }.toArray()
    }

    func testFloat32GGUFEqualsTheHFFolder() throws {
        let hf = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        let gguf = try CausalLM.load(gguf: Fixtures.url("gguf/vicuna-tiny-f32.gguf"))
        XCTAssertEqual(gguf.architecture.hiddenSize, 64)
        XCTAssertEqual(gguf.architecture.vocabSize, 700)
        // Same float32 weights, q/k rows restored from llama.cpp's RoPE order: the same logits, bit for bit.
        XCTAssertEqual(logits(gguf), logits(hf))
    }

    /// Phi-3 (`phi3` architecture: fused qkv and gate_up, no row reordering) loads as its HF folder.
    func testPhi3GGUFEqualsTheHFFolder() throws {
        let hf = try CausalLM.load(directory: Fixtures.url("models/phi3-tiny"))
        let gguf = try CausalLM.load(gguf: Fixtures.url("gguf/phi3-tiny-f32.gguf"))
        XCTAssertEqual(gguf.architecture.slidingWindow, hf.architecture.slidingWindow)
        XCTAssertEqual(logits(gguf), logits(hf))
    }

    func testConfigurationFromMetadata() throws {
        let hf = try LLMConfiguration.load(Fixtures.url("models/vicuna-tiny/config.json"))
        let gguf = try GGUFLLM(path: Fixtures.url("gguf/vicuna-tiny-bf16.gguf").path).configuration
        XCTAssertEqual(gguf.family, hf.family)
        XCTAssertEqual(gguf.vocabSize, hf.vocabSize)
        XCTAssertEqual(gguf.hiddenSize, hf.hiddenSize)
        XCTAssertEqual(gguf.intermediateSize, hf.intermediateSize)
        XCTAssertEqual(gguf.numHiddenLayers, hf.numHiddenLayers)
        XCTAssertEqual(gguf.numAttentionHeads, hf.numAttentionHeads)
        XCTAssertEqual(gguf.numKeyValueHeads, hf.numKeyValueHeads)
        XCTAssertEqual(gguf.headDim, hf.headDim)
        XCTAssertEqual(gguf.maxPositionEmbeddings, hf.maxPositionEmbeddings)
        XCTAssertEqual(Float(gguf.rmsNormEps), Float(hf.rmsNormEps))  // GGUF stores it as FLOAT32
        XCTAssertEqual(gguf.ropeTheta, hf.ropeTheta)
        XCTAssertEqual(gguf.tieWordEmbeddings, hf.tieWordEmbeddings)
        XCTAssertEqual(gguf.bosTokenId, hf.bosTokenId)
        XCTAssertEqual(gguf.eosTokenIds, hf.eosTokenIds)
        XCTAssertEqual(gguf.padTokenId, hf.padTokenId)
    }

    func testBF16GGUFEqualsTheHFFolderInBF16() throws {
        let hf = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        for (_, p) in hf.namedParameters() where p.shape.count == 2 {
            p.value = p.value.converted(to: .bfloat16).float()
        }
        // The file's values are under test: float32 products on both sides.
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        HalfPrecision.kernel = .widenedFloat32
        let gguf = try CausalLM.load(gguf: Fixtures.url("gguf/vicuna-tiny-bf16.gguf"))
        let (a, b) = (logits(gguf), logits(hf))
        XCTAssertEqual(a.count, b.count)
        for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * max(1, abs(b[i])), "logit \(i)") }
    }

    /// The vocabulary a GGUF file carries tokenizes as llama.cpp's `llama-tokenize` does with that file.
    func testTokenizerMatchesLlamaCpp() throws {
        let tokenizer = try GGUFLLM(path: Fixtures.url("gguf/vicuna-tiny-f32.gguf").path).tokenizer()
        let json =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("gguf/vicuna-tiny-llamacpp-tokens.json"))) as? [String: Any]
        let cases = try XCTUnwrap(json?["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 7)
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String), ids = try XCTUnwrap(c["ids"] as? [Int])
            XCTAssertEqual(tokenizer.encode(text), ids, text)
        }
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.decode([598, 466, 479, 612]), "Hello world,")
    }

    /// `--estimate-memory` with a GGUF LLM: its stored (quantized) bytes count, and the checkpoint's llm.* tensors,
    /// which are not loaded, do not.
    func testMemoryEstimateWithAGGUFLLM() throws {
        let gguf = Fixtures.url("gguf/llama-256-q4_k_m.gguf")
        let pth = Fixtures.url("models/mgllava-tiny/sft.pth")
        let estimate = try MemoryEstimate(
            llm: gguf, visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"), pth: pth)
        let llm = try XCTUnwrap(estimate.parts.first { $0.name == "LLM" })
        let file = try GGUFFile(path: gguf.path)
        XCTAssertEqual(llm.storedBytes, file.tensorInfos.reduce(0) { $0 + $1.byteCount })
        XCTAssertEqual(llm.parameters, file.tensorInfos.reduce(0) { $0 + $1.dimensions.reduce(1, *) })
        XCTAssertTrue(llm.resident)
        let checkpoint = try XCTUnwrap(estimate.parts.first { $0.name == "checkpoint" })
        let all = try Checkpoint.open(pth).infos()
        XCTAssertEqual(
            checkpoint.storedBytes, all.filter { !$0.name.hasPrefix("llm.") }.reduce(0) { $0 + $1.byteCount })
        XCTAssertLessThan(checkpoint.storedBytes, all.reduce(0) { $0 + $1.byteCount })
    }

    /// The fixture rewritten with one metadata change, to a temp file.
    func rewritten(_ change: (inout [(key: String, value: GGUFValue)]) -> Void) throws -> URL {
        let file = try GGUFFile(path: Fixtures.url("gguf/vicuna-tiny-f32.gguf").path)
        var metadata = file.metadata
        change(&metadata)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-llm-\(UUID().uuidString).gguf")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        let entries = file.tensorInfos.map { GGUFWriter.Entry(name: $0.name, shape: $0.shape, type: $0.type) }
        try GGUFWriter.write(to: url, metadata: metadata, entries: entries) { try file.tensor(entries[$0].name) }
        return url
    }

    /// Metadata that disagrees with the tensors, or is missing, is named.
    func testBadMetadataIsNamed() throws {
        let noTokenizer = try rewritten { $0.removeAll { $0.key.hasPrefix("tokenizer.") } }
        XCTAssertThrowsError(try GGUFLLM(path: noTokenizer.path).tokenizer()) { error in
            XCTAssertEqual(error as? GGUFError, .missingKey(path: noTokenizer.path, key: "tokenizer.ggml.model"))
        }
        let wide = try rewritten { m in
            if let i = m.firstIndex(where: { $0.key == "llama.embedding_length" }) { m[i].value = .uint32(128) }
        }
        XCTAssertThrowsError(try CausalLM.load(gguf: wide)) { error in
            XCTAssertTrue("\(error)".contains("model.embed_tokens.weight"), "\(error)")
            XCTAssertTrue("\(error)".contains("[700, 64]"), "\(error)")
        }
        let noLayers = try rewritten { $0.removeAll { $0.key == "llama.block_count" } }
        XCTAssertThrowsError(try GGUFLLM(path: noLayers.path)) { error in
            XCTAssertEqual(error as? GGUFError, .missingKey(path: noLayers.path, key: "llama.block_count"))
        }
        let gpt2 = try rewritten { m in
            if let i = m.firstIndex(where: { $0.key == "tokenizer.ggml.model" }) {
                m[i].value = .string(Array("gpt2".utf8))
            }
        }
        XCTAssertThrowsError(try GGUFLLM(path: gpt2.path).tokenizer()) { error in
            XCTAssertTrue("\(error)".contains("\"gpt2\" tokenizers are not supported yet"), "\(error)")
        }
        let falcon = try rewritten { m in
            if let i = m.firstIndex(where: { $0.key == "general.architecture" }) {
                m[i].value = .string(Array("falcon".utf8))
            }
        }
        XCTAssertThrowsError(try GGUFLLM(path: falcon.path)) { error in
            XCTAssertTrue("\(error)".contains("\"falcon\" is not supported yet"), "\(error)")
        }
    }
}
