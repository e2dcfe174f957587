import Foundation
import XCTest
import MGTestSupport

/// `mgllava quantize`, `eval perplexity` and `chat --llm FILE.gguf` as a user runs them.
final class QuantizeCommandTests: XCTestCase {
    /// The vicuna-tiny folder with its tokenizer, in a temp dir.
    func llmFolder() throws -> URL {
        let dir = try temporaryDirectory()
        try Fixtures.assemble(["models/vicuna-tiny", "tokenizers/vicuna-tiny"], into: dir)
        return dir
    }

    func testQuantizeThenPerplexityThenChat() throws {
        let dir = try llmFolder()
        let out = dir.appendingPathComponent("q8.gguf").path
        let q = try runCLI(["quantize", "--llm", dir.path, "--type", "q8_0", "--out", out])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("blk.0.ffn_down.weight → F16 (rows not whole blocks"), q.stdout)
        XCTAssertTrue(q.stdout.contains("2 of 21 tensors needed a fallback type"), q.stdout)
        let p = try runCLI([
            "eval", "perplexity", "--llm", out, "--kl-base", dir.path, "--data",
            Fixtures.url("gguf/corpus.txt").path, "--context", "128", "--chunks", "3"
        ])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stdout.contains("over 189 tokens (3 chunks of 128)"), p.stdout)
        XCTAssertTrue(p.stdout.contains("mean KL divergence"), p.stdout)
        let c = try runCLI([
            "chat", "--llm", out, "--visual-encoder", Fixtures.url("models/clip-vit-tiny").path,
            "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path,
            "--pth", Fixtures.url("models/mgllava-tiny/sft.pth").path, "--image-size-aux", "128",
            "--image", Fixtures.url("preprocess/photo0.jpg").path, "--prompt", "What colour is the suit?",
            "--max-new-tokens", "4"
        ])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stderr.contains("llm.* tensors are not used"), c.stderr)
    }

    func testBadInputIsNamed() throws {
        let dir = try llmFolder()
        let bad = try runCLI(["quantize", "--llm", dir.path, "--type", "q3_k", "--out", "/tmp/x.gguf"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--type q3_k: expected one of q8_0, q4_k_m, q4_k, f16"), bad.stderr)
        let truncated = dir.appendingPathComponent("cut.gguf")
        let bytes = try Data(contentsOf: Fixtures.url("gguf/vicuna-tiny-q8_0.gguf"))
        try bytes.prefix(bytes.count - 100).write(to: truncated)
        let r = try runCLI([
            "eval", "perplexity", "--llm", truncated.path, "--data", Fixtures.url("gguf/corpus.txt").path
        ])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cut.gguf: the file ends at byte"), r.stderr)
        XCTAssertTrue(r.stderr.contains("output_norm.weight"), r.stderr)
    }
}
