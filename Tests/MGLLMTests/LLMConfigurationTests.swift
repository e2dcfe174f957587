import Foundation
import XCTest
import MGJSON
import MGLLaVA
import MGTestSupport

/// `LLMConfiguration` against the published configs (Tests/Fixtures/real-configs, copied from
/// ../shared/fixtures/real-configs): transformers' defaults per family, and errors naming the file and the key.
final class LLMConfigurationTests: XCTestCase {
    func realConfig(_ name: String) -> URL { Fixtures.url("real-configs/\(name)") }

    func decode(_ json: String) throws -> LLMConfiguration {
        try ConfigFile.decode(LLMConfiguration.self, from: Data(json.utf8), path: "config.json")
    }

    func testLlamaFamily() throws {
        let vicuna = try LLMConfiguration.load(realConfig("vicuna-7b-v1.5"))
        XCTAssertEqual(vicuna.family, .llama)
        XCTAssertEqual(vicuna.hiddenSize, 4096)
        XCTAssertEqual(vicuna.numKeyValueHeads, 32)
        XCTAssertEqual(vicuna.headDim, 128)
        XCTAssertEqual(vicuna.ropeTheta, 10000, "no rope_theta in the file: transformers' default applies")
        XCTAssertEqual(vicuna.rmsNormEps, 1e-5)
        XCTAssertEqual(vicuna.eosTokenIds, [2])
        XCTAssertEqual(vicuna.torchDType, "float16")

        let llama3 = try LLMConfiguration.load(realConfig("Meta-Llama-3-8B-Instruct"))
        XCTAssertEqual(llama3.numKeyValueHeads, 8)
        XCTAssertEqual(llama3.ropeTheta, 500000)
        XCTAssertEqual(llama3.vocabSize, 128256)
        XCTAssertEqual(llama3.eosTokenIds, [128009])
        XCTAssertNil(llama3.ropeScaling)

        let yi = try LLMConfiguration.load(realConfig("Yi-1.5-34B-Chat"))
        XCTAssertEqual(yi.family, .llama)
        XCTAssertEqual(yi.numAttentionHeads, 56)
        XCTAssertEqual(yi.headDim, 128)
        XCTAssertEqual(yi.ropeTheta, 5_000_000)
        XCTAssertEqual(yi.rmsNormEps, 1e-6)
        XCTAssertEqual(try LLMConfiguration.load(realConfig("vicuna-13b-v1.5")).numHiddenLayers, 40)
    }

    func testPhi3() throws {
        let phi = try LLMConfiguration.load(realConfig("Phi-3-mini-4k-instruct"))
        XCTAssertEqual(phi.family, .phi3)
        XCTAssertEqual(phi.hiddenSize, 3072)
        XCTAssertEqual(phi.intermediateSize, 8192)
        XCTAssertEqual(phi.slidingWindow, 2047)
        XCTAssertEqual(phi.originalMaxPositionEmbeddings, 4096)
        XCTAssertEqual(phi.eosTokenIds, [32000])
        XCTAssertEqual(phi.padTokenId, 32000)
    }

    func testDefaultsAndRopeScaling() throws {
        let config = try decode(
            """
            {"model_type": "llama", "vocab_size": 10, "hidden_size": 8.0, "intermediate_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": [5, 6], "pad_token_id": null,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192},
             "some_future_field": {"ignored": true}}
            """)
        XCTAssertEqual(config.hiddenSize, 8, "an integral 8.0 is an integer, as Python reads it")
        XCTAssertEqual(config.numKeyValueHeads, 2, "defaults to num_attention_heads")
        XCTAssertEqual(config.headDim, 4)
        XCTAssertEqual(config.rmsNormEps, 1e-6, "LlamaConfig's default")
        XCTAssertEqual(config.maxPositionEmbeddings, 2048)
        XCTAssertEqual(config.bosTokenId, 1)
        XCTAssertNil(config.padTokenId)
        XCTAssertEqual(config.eosTokenIds, [5, 6])
        XCTAssertEqual(config.ropeScaling?.type, "llama3")
        XCTAssertEqual(config.ropeScaling?.factor, 8)
        XCTAssertEqual(config.ropeScaling?.originalMaxPositionEmbeddings, 8192)
        XCTAssertEqual(
            try LLMArchitecture(config).ropeScaling,
            .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))

        let phi = try decode(
            """
            {"model_type": "phi3", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "dtype": "bfloat16",
             "rope_scaling": {"type": "linear", "factor": 2}}
            """)
        XCTAssertEqual(phi.padTokenId, 32000, "Phi3Config's default pad token")
        XCTAssertEqual(phi.eosTokenIds, [32000])
        XCTAssertEqual(phi.maxPositionEmbeddings, 4096)
        XCTAssertEqual(phi.rmsNormEps, 1e-5)
        XCTAssertEqual(phi.torchDType, "bfloat16", "transformers 5 writes dtype")
        XCTAssertEqual(phi.ropeScaling?.type, "linear", "older files say type")
        XCTAssertEqual(try LLMArchitecture(phi).ropeScaling, .linear(factor: 2))
    }

    func testEncodesSnakeCaseAndRoundTrips() throws {
        let phi = try LLMConfiguration.load(realConfig("Phi-3-mini-4k-instruct"))
        let data = try JSONEncoder().encode(phi)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["model_type"] as? String, "phi3")
        XCTAssertEqual(object["num_hidden_layers"] as? Int, 32)
        XCTAssertEqual(try ConfigFile.decode(LLMConfiguration.self, from: data, path: "round-trip.json"), phi)
    }

    func testUnsupportedRopeScalingNamesTheFile() throws {
        let config = try decode(
            """
            {"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"rope_type": "yarn", "factor": 4}}
            """)
        XCTAssertThrowsError(try LLMArchitecture(config, path: "/m/config.json")) { error in
            XCTAssertEqual((error as? ConfigError)?.path, "/m/config.json")
            XCTAssertEqual((error as? ConfigError)?.key, "rope_scaling.rope_type")
        }
    }

    func testErrorsNameFileAndKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("config.json")
        func expectError(_ json: String, key: String, contains text: String, line: UInt = #line) {
            try? Data(json.utf8).write(to: file)
            XCTAssertThrowsError(try LLMConfiguration.load(file), line: line) { error in
                guard let e = error as? ConfigError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(e.path, file.path, line: line)
                XCTAssertEqual(e.key, key, line: line)
                XCTAssertTrue(e.description.contains(text), e.description, line: line)
            }
        }
        let base =
            #""model_type": "llama", "vocab_size": 10, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2"#
        expectError("{\(base)}", key: "hidden_size", contains: "required field is missing")
        expectError("{\(base), \"hidden_size\": null}", key: "hidden_size", contains: "required field is missing")
        expectError("{\(base), \"hidden_size\": \"8\"}", key: "hidden_size", contains: "expected an integer")
        expectError("{\(base), \"hidden_size\": \"8\"}", key: "hidden_size", contains: "found the string \"8\"")
        expectError("{\(base), \"hidden_size\": 8.5}", key: "hidden_size", contains: "expected an integer")
        expectError("{\(base), \"hidden_size\": 0}", key: "hidden_size", contains: "must be positive")
        expectError(
            "{\(base), \"hidden_size\": 8, \"num_key_value_heads\": 3}", key: "num_key_value_heads",
            contains: "does not divide")
        expectError(
            "{\(base), \"hidden_size\": 8, \"tie_word_embeddings\": 1}", key: "tie_word_embeddings",
            contains: "true or false")
        expectError(
            "{\(base), \"hidden_size\": 8, \"eos_token_id\": [2, 2.5]}", key: "eos_token_id.1", contains: "integer")
        expectError(
            "{\(base), \"hidden_size\": 8, \"eos_token_id\": [2, \"x\"]}", key: "eos_token_id.1", contains: "integer")
        expectError(
            "{\(base), \"hidden_size\": 8, \"rope_scaling\": {\"factor\": \"2\"}}", key: "rope_scaling.factor",
            contains: "expected a number")
        expectError("{\(base), \"hidden_size\": 8, \"rope_theta\": 0}", key: "rope_theta", contains: "must be positive")
        expectError("{\"model_type\": \"gpt2\"}", key: "model_type", contains: "unsupported model type")
        expectError("{\"vocab_size\": 3}", key: "model_type", contains: "required field is missing")
        expectError("{\"model_type\": ", key: "", contains: "not valid JSON")
        expectError("{\"model_type\": \"llama\",}", key: "", contains: "not valid JSON")
        expectError("[1, 2]", key: "", contains: "JSON object")
        XCTAssertThrowsError(try LLMConfiguration.load(dir.appendingPathComponent("missing.json"))) { error in
            XCTAssertTrue("\(error)".contains("missing.json"))
        }
    }
}
