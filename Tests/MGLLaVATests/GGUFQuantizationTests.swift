import XCTest
import MGCheckpoint
import MGLLaVA
import MGTestSupport

/// The quantizers and the Q4_K_M type choice against `llama-quantize` itself: Tests/Fixtures/gguf/llama-256-q4_k_m.gguf
/// is llama.cpp's Q4_K_M of llama-256-f16.gguf (scripts/make_gguf_fixtures.py), holding Q4_K, Q6_K and the Q5_0 and
/// Q8_0 fallbacks.
final class GGUFQuantizationTests: XCTestCase {
    func testQuantizersAndTypeChoiceMatchLlamaQuantize() throws {
        let source = try GGUFFile(path: Fixtures.url("gguf/llama-256-f16.gguf").path)
        let quantized = try GGUFFile(path: Fixtures.url("gguf/llama-256-q4_k_m.gguf").path)
        XCTAssertEqual(source.keys, quantized.keys)
        var seen = Set<String>()
        for name in quantized.keys {
            let info = try quantized.tensorInfo(name)
            let choice = try GGUFQuantizationType.q4_K_M.type(
                forGGUF: name, shape: info.shape, layers: 2, tiedEmbeddings: false)
            XCTAssertEqual(choice.type, info.type, name)
            seen.insert(info.type.name)
            guard let dtype = info.type.dtype, dtype.isBlockQuantized else { continue }
            let ours = try source.tensor(name).float().converted(to: dtype)
            let theirs = try quantized.tensor(name)
            XCTAssertEqual(ours.storage.byteCount, theirs.storage.byteCount, name)
            XCTAssertEqual(
                memcmp(ours.storage.pointer, theirs.storage.pointer, theirs.storage.byteCount), 0,
                "\(name) (\(info.type.name)): not llama-quantize's bytes")
        }
        XCTAssertEqual(seen, ["F32", "Q4_K", "Q6_K", "Q5_0", "Q8_0"])
    }

    /// Q8_0 as the converter (gguf-py, ggml's reference in numpy) quantized vicuna-tiny.
    func testQ8QuantizerMatchesTheConverter() throws {
        let hf = try Checkpoint.open(Fixtures.url("models/vicuna-tiny"))
        let gguf = try GGUFFile(path: Fixtures.url("gguf/vicuna-tiny-q8_0.gguf").path)
        var compared = 0
        for key in hf.keys {
            guard let name = GGUFTensorNames.gguf(forHF: key, family: .llama),
                let info = try? gguf.tensorInfo(name), info.type.name == "Q8_0",
                !key.contains("q_proj"), !key.contains("k_proj")  // rows reordered for llama.cpp's RoPE
            else { continue }
            let ours = try hf.tensor(key).float().converted(to: .q8_0)
            let theirs = try gguf.tensor(name)
            XCTAssertEqual(memcmp(ours.storage.pointer, theirs.storage.pointer, theirs.storage.byteCount), 0, name)
            compared += 1
        }
        XCTAssertEqual(compared, 10)  // embeddings, output, and per layer v, o, gate, up
    }
}
