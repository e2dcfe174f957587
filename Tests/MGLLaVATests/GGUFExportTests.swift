import XCTest
import MGCheckpoint
import MGLLaVA
import MGTestSupport

/// `GGUFExport` (mgllava quantize) against llama.cpp's own converter output for the same folder.
final class GGUFExportTests: XCTestCase {
    /// The vicuna-tiny folder with its tokenizer files, as the converter saw it.
    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "gguf-export-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try Fixtures.assemble(["models/vicuna-tiny", "tokenizers/vicuna-tiny"], into: dir)
        return dir
    }

    /// F16: every tensor is the converter's F32 tensor rounded to F16 (q/k rows in llama.cpp's order included), and
    /// the model-defining metadata is the converter's.
    func testF16ExportMatchesTheConverter() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("out.gguf")
        let export = try GGUFExport.write(llm: dir, type: .f16, to: out)
        XCTAssertEqual(export.tensors.count, 21)
        let ours = try GGUFFile(path: out.path)
        let theirs = try GGUFFile(path: Fixtures.url("gguf/vicuna-tiny-f32.gguf").path)
        XCTAssertEqual(ours.keys, theirs.keys)
        for name in theirs.keys {
            let a = try ours.tensor(name), b = try theirs.tensor(name)
            XCTAssertEqual(a.shape, b.shape, name)
            let expected = b.shape.count == 2 ? b.converted(to: .float16) : b
            XCTAssertEqual(a.dtype, expected.dtype, name)
            XCTAssertEqual(
                Data(bytes: a.storage.pointer, count: a.storage.byteCount),
                Data(bytes: expected.storage.pointer, count: expected.storage.byteCount), name)
        }
        for (key, value) in theirs.metadata
        where !["general.name", "general.size_label", "general.file_type"].contains(key) {
            XCTAssertEqual(ours[key], value, key)
        }
        XCTAssertEqual(ours["general.file_type"], .uint32(1))
        // …and it loads back as the model it came from (float32 activations on both sides: the default 16-bit
        // kernel would round them to f16 for the f16 weights only).
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        HalfPrecision.kernel = .widenedFloat32
        let hf = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        for (_, p) in hf.namedParameters() where p.shape.count == 2 {
            p.value = p.value.converted(to: .float16).float()
        }
        let gguf = try CausalLM.load(gguf: out)
        let ids = [1, 15, 300, 42, 7]
        let a = withNoGrad { gguf(inputsEmbeds: gguf.embed([ids])).logits! }.toArray()
        let b = withNoGrad { hf(inputsEmbeds: hf.embed([ids])).logits! }.toArray()
        for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * max(1, abs(b[i])), "logit \(i)") }
        // With activations rounded to f16 (llama.cpp's F16 numbers): within f16 rounding, the same top token.
        HalfPrecision.kernel = .bf16
        let h = withNoGrad { gguf(inputsEmbeds: gguf.embed([ids])).logits! }
        let hv = h.toArray()
        for i in hv.indices { XCTAssertEqual(hv[i], b[i], accuracy: 2e-2 * max(1, abs(b[i])), "f16 logit \(i)") }
        XCTAssertEqual(h.argmax(axis: -1), Tensor(b, shape: h.shape).argmax(axis: -1))
    }

    func testTypeChoiceFollowsLlamaQuantize() throws {
        let q4km = GGUFQuantizationType.q4_K_M
        // LLaMA-7B: 32 layers, rows of 4096 (ffn_down 11008), vocabulary 32000.
        func type(_ name: String, _ shape: [Int]) throws -> String {
            let c = try q4km.type(forGGUF: name, shape: shape, layers: 32, tiedEmbeddings: false)
            return c.type.name + (c.fallback ? "*" : "")
        }
        XCTAssertEqual(try type("token_embd.weight", [32000, 4096]), "Q4_K")
        XCTAssertEqual(try type("output.weight", [32000, 4096]), "Q6_K")
        XCTAssertEqual(try type("output_norm.weight", [4096]), "F32")
        XCTAssertEqual(try type("blk.0.attn_q.weight", [4096, 4096]), "Q4_K")
        XCTAssertEqual(try type("blk.0.attn_v.weight", [4096, 4096]), "Q6_K")  // first eighth
        XCTAssertEqual(try type("blk.4.attn_v.weight", [4096, 4096]), "Q4_K")
        XCTAssertEqual(try type("blk.6.ffn_down.weight", [4096, 11008]), "Q6_K")  // (6 − 4) % 3 == 2
        XCTAssertEqual(try type("blk.7.ffn_down.weight", [4096, 11008]), "Q4_K")
        XCTAssertEqual(try type("blk.28.ffn_down.weight", [4096, 11008]), "Q6_K")  // last eighth
        // Rows that are not whole 256-blocks fall back: Q4_K → Q5_0, Q6_K → Q8_0, then F16.
        XCTAssertEqual(try type("blk.7.ffn_up.weight", [176, 64 + 32]), "Q5_0*")
        XCTAssertEqual(try type("blk.0.attn_v.weight", [64, 96]), "Q8_0*")
        XCTAssertEqual(try type("blk.7.ffn_down.weight", [64, 176]), "F16*")
        XCTAssertEqual(try type("output.weight", [700, 64]), "Q8_0")  // not a fallback: llama.cpp's output rule
        XCTAssertEqual(
            try GGUFQuantizationType.q8_0.type(
                forGGUF: "blk.0.ffn_down.weight", shape: [64, 176], layers: 2, tiedEmbeddings: false
            ).type.name,
            "F16")
        XCTAssertEqual(
            try GGUFQuantizationType.q4_K.type(
                forGGUF: "output.weight", shape: [32000, 4096], layers: 32, tiedEmbeddings: false
            ).type.name,
            "Q4_K")
        XCTAssertThrowsError(try type("blk.0.attn_qkv.weight", [9216, 3072]))
    }

    /// The fixture stack's SFT checkpoint carries a trained LLM: quantized to Q8_0 together with the folder
    /// (`--pth`), then run as `--llm FILE.gguf` beside that checkpoint, it answers the fixture question with the
    /// greedy tokens of the float32 stack (InferencePipelineTests' reference).
    func testQ8StackAnswersAsFloat32() throws {
        let dir = try folder()
        let out = dir.appendingPathComponent("sft-q8_0.gguf")
        let pth = Fixtures.url("models/mgllava-tiny/sft.pth")
        let export = try GGUFExport.write(llm: dir, pth: pth, type: .q8_0, to: out)
        XCTAssertEqual(export.fromCheckpoint, 21)  // every LLM tensor
        XCTAssertEqual(
            export.tensors.filter(\.fallback).map(\.name), ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"])
        let pipeline = try InferencePipeline.load(
            llm: out, visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"), pth: pth,
            tokenizer: Fixtures.url("tokenizers/vicuna-tiny"), imageSizeAux: 128)
        XCTAssertEqual(pipeline.loadNotes.count, 1)
        XCTAssertTrue(pipeline.loadNotes[0].contains("llm.* tensors are not used"), pipeline.loadNotes[0])
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let records = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        let boxes = try XCTUnwrap(records.first { $0.id.key == "case0" })
        let question =
            "Look at the suit.\nWhat colour is the suit?\nA. white\nB. red\nC. green\nD. black\n"
            + "Answer with the option's letter from the given choices directly."
        // The towers and modules are bf16 in the .pth: widened, so that only the LLM's Q8_0 differs from float32.
        let saved = HalfPrecision.kernel
        defer { HalfPrecision.kernel = saved }
        HalfPrecision.kernel = .widenedFloat32
        let reply = try withNoGrad {
            try pipeline.chat(about: image, boxes: boxes).send(question, maxNewTokens: 16, sampling: .greedy)
        }
        XCTAssertEqual(reply.ids, [459, 22, 655, 341, 140, 679, 550, 485, 682, 190, 280, 584, 461, 64, 586, 37])
    }
}
