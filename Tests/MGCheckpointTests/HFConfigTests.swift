import XCTest
import MGCheckpoint
import MGTestSupport

/// Config decoding against the published configs (Tests/Fixtures/real-configs, copied from
/// ../shared/fixtures/real-configs) and the tiny fixture models.
final class HFConfigTests: XCTestCase {
    func realConfig(_ name: String) -> URL { Fixtures.url("real-configs/\(name)") }

    func testLlamaFamily() throws {
        let vicuna = try DecoderConfig.load(realConfig("vicuna-7b-v1.5"))
        XCTAssertEqual(vicuna.family, .llama)
        XCTAssertEqual(vicuna.hiddenSize, 4096)
        XCTAssertEqual(vicuna.numKeyValueHeads, 32)
        XCTAssertEqual(vicuna.headDim, 128)
        XCTAssertEqual(vicuna.ropeTheta, 10000, "no rope_theta in the file: transformers' default applies")
        XCTAssertEqual(vicuna.rmsNormEps, 1e-5)
        XCTAssertEqual(vicuna.eosTokenIds, [2])
        XCTAssertEqual(vicuna.torchDType, "float16")

        let llama3 = try DecoderConfig.load(realConfig("Meta-Llama-3-8B-Instruct"))
        XCTAssertEqual(llama3.numKeyValueHeads, 8)
        XCTAssertEqual(llama3.ropeTheta, 500000)
        XCTAssertEqual(llama3.vocabSize, 128256)
        XCTAssertEqual(llama3.eosTokenIds, [128009])
        XCTAssertNil(llama3.ropeScaling)

        let yi = try DecoderConfig.load(realConfig("Yi-1.5-34B-Chat"))
        XCTAssertEqual(yi.family, .llama)
        XCTAssertEqual(yi.numAttentionHeads, 56)
        XCTAssertEqual(yi.headDim, 128)
        XCTAssertEqual(yi.ropeTheta, 5_000_000)
        XCTAssertEqual(yi.rmsNormEps, 1e-6)
        XCTAssertEqual(try DecoderConfig.load(realConfig("vicuna-13b-v1.5")).numHiddenLayers, 40)
    }

    func testPhi3() throws {
        let phi = try DecoderConfig.load(realConfig("Phi-3-mini-4k-instruct"))
        XCTAssertEqual(phi.family, .phi3)
        XCTAssertEqual(phi.hiddenSize, 3072)
        XCTAssertEqual(phi.intermediateSize, 8192)
        XCTAssertEqual(phi.slidingWindow, 2047)
        XCTAssertEqual(phi.originalMaxPositionEmbeddings, 4096)
        XCTAssertEqual(phi.eosTokenIds, [32000])
        XCTAssertEqual(phi.padTokenId, 32000)
    }

    func testDefaultsAndRopeScaling() throws {
        let c = ConfigObject(
            path: "config.json",
            values: [
                "model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
                "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": [5, 6],
                "rope_scaling": [
                    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 8192
                ],
                "some_future_field": ["ignored": true]
            ])
        let config = try DecoderConfig(c)
        XCTAssertEqual(config.numKeyValueHeads, 2, "defaults to num_attention_heads")
        XCTAssertEqual(config.rmsNormEps, 1e-6, "LlamaConfig's default")
        XCTAssertEqual(config.maxPositionEmbeddings, 2048)
        XCTAssertEqual(config.eosTokenIds, [5, 6])
        XCTAssertEqual(config.ropeScaling?.type, "llama3")
        XCTAssertEqual(config.ropeScaling?.factor, 8)
        XCTAssertEqual(config.ropeScaling?.originalMaxPositionEmbeddings, 8192)
    }

    func testCLIPVisionConfig() throws {
        let real = try CLIPVisionConfig.load(realConfig("clip-vit-large-patch14-336"))
        XCTAssertEqual(real.hiddenSize, 1024)
        XCTAssertEqual(real.numHiddenLayers, 24)
        XCTAssertEqual(real.imageSize, 336)
        XCTAssertEqual(real.patchSize, 14)
        XCTAssertEqual(real.gridSize, 24)
        XCTAssertEqual(real.hiddenAct, "quick_gelu")
        XCTAssertEqual(real.layerNormEps, 1e-5)
        let tiny = try CLIPVisionConfig.load(Fixtures.url("models/clip-vit-tiny"))
        XCTAssertEqual(tiny.hiddenSize, 32)
        XCTAssertEqual(tiny.imageSize, 56)
        XCTAssertEqual(tiny.numHiddenLayers, 3)
    }

    func testOpenCLIPConfig() throws {
        let real = try OpenCLIPConfig.load(realConfig("CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup"))
        XCTAssertEqual(real.timmModelName, "convnext_large")
        XCTAssertEqual(real.imageSize, 320)
        XCTAssertEqual(real.mean, OpenCLIPConfig.openAIMean)
        let tiny = try OpenCLIPConfig.load(Fixtures.url("models/convnext-tiny"))
        XCTAssertEqual(tiny.timmModelName, "convnext_mgtiny")
        XCTAssertEqual(tiny.imageSize, 128)
    }

    func testErrorsNameFileAndKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("config.json")
        func expectError(_ json: String, key: String, contains text: String, line: UInt = #line) {
            try? Data(json.utf8).write(to: file)
            XCTAssertThrowsError(try DecoderConfig.load(file), line: line) { error in
                guard let e = error as? ConfigError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(e.path, file.path, line: line)
                XCTAssertEqual(e.key, key, line: line)
                XCTAssertTrue(e.description.contains(text), e.description, line: line)
            }
        }
        let base =
            #""model_type": "llama", "vocab_size": 10, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2"#
        expectError("{\(base)}", key: "hidden_size", contains: "required field is missing")
        expectError("{\(base), \"hidden_size\": \"8\"}", key: "hidden_size", contains: "expected an integer")
        expectError("{\(base), \"hidden_size\": 8.5}", key: "hidden_size", contains: "expected an integer")
        expectError(
            "{\(base), \"hidden_size\": 8, \"num_key_value_heads\": 3}", key: "num_key_value_heads",
            contains: "does not divide")
        expectError(
            "{\(base), \"hidden_size\": 8, \"tie_word_embeddings\": 1}", key: "tie_word_embeddings",
            contains: "true or false")
        expectError("{\"model_type\": \"gpt2\"}", key: "model_type", contains: "unsupported model type")
        expectError("{\"model_type\": ", key: "", contains: "not valid JSON")
        expectError("[1, 2]", key: "", contains: "JSON object")
        XCTAssertThrowsError(try DecoderConfig.load(dir.appendingPathComponent("missing.json"))) { error in
            XCTAssertTrue("\(error)".contains("missing.json"))
        }
    }
}
