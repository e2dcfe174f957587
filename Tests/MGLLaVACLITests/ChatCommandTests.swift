import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// `mgllava chat` on the tiny fixture stack (SFT weights): one-shot greedy output equals the reference
/// (reference/mgllava-e2e-generate: photo0, case0 boxes, MMBench-style prompt), interactive multi-turn through
/// standard input, the dummy-box note, and a prompt too long for the context refused before any compute.
final class ChatCommandTests: XCTestCase {
    var base: [String] {
        [
            "chat", "--llm", Fixtures.url("models/vicuna-tiny").path, "--visual-encoder",
            Fixtures.url("models/clip-vit-tiny").path,
            "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path, "--pth",
            Fixtures.url("models/mgllava-tiny/sft.pth").path,
            "--tokenizer", Fixtures.url("tokenizers/vicuna-tiny").path, "--image",
            Fixtures.url("preprocess/photo0.jpg").path,
            "--image-size-aux", "128"
        ]
    }
    let question =
        "Look at the suit.\nWhat colour is the suit?\nA. white\nB. red\nC. green\nD. black\n"
        + "Answer with the option's letter from the given choices directly."

    func testOneShotMatchesTheReference() throws {
        let r = try runCLI(
            base + [
                "--boxes", Fixtures.url("preprocess/boxes.json").path, "--box-id", "case0",
                "--max-new-tokens", "16", "--json", "--prompt", question
            ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(
            json?["generated_ids"] as? [Int],
            [459, 22, 655, 341, 140, 679, 550, 485, 682, 190, 280, 584, 461, 64, 586, 37])
        let steps = json?["steps"] as? [[String: Any]] ?? []
        XCTAssertEqual(steps.count, 16)
        XCTAssertEqual((steps.first?["top5"] as? [[Any]])?.count, 5)
    }

    /// The streamed answer is the whole answer, even when the model produces byte tokens that are not valid UTF-8
    /// (this prompt: `"` as a byte token, then invalid bytes that turn it into U+FFFD when the run is decoded).
    func testStreamedAnswerIsTheWholeAnswer() throws {
        let arguments = base + ["--max-new-tokens", "16", "--prompt", "What is in the picture?"]
        let plain = try runCLI(arguments), json = try runCLI(arguments + ["--json"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(json.status, 0, json.stderr)
        let text = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["text"] as? String)
        XCTAssertTrue(text.contains("\u{FFFD}"), text)
        XCTAssertEqual(plain.stdout, "ASSISTANT: \(text)\n")
    }

    func testInteractiveMultiTurnAndDummyBox() throws {
        let r = try runCLI(
            base + ["--max-new-tokens", "4"], input: "What is this?\n\nAnd the colour?\nexit\nnever read\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.components(separatedBy: "ASSISTANT: ").count - 1, 2, r.stdout)
        XCTAssertTrue(r.stderr.contains("dummy box"), r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "dummy box").count - 1, 1, "said once")
    }

    /// An `--image-size-aux` the towers cannot pair with the CLIP grid (the default 768 on this 128-pixel model)
    /// and out-of-range sampling flags exit 1 (64 for usage errors) naming the flag and what fits, instead of trapping in the fusion.
    func testGeometryAndSamplingFlagsAreCheckedByName() throws {
        let arguments = base.dropLast(2) + ["--prompt", "What is this?", "--max-new-tokens", "1"]
        for (flags, expected) in [
            (["--image-size-aux", "768"], "--image-size-aux 768"),
            (["--image-size-aux", "4096"], "sizes that fit: 128…"),
            (["--image-size-aux", "1", "--top-p", "0"], "--top-p 0.0"),
            (["--image-size-aux", "128", "--temperature", "nan"], "--temperature nan")
        ] {
            let r = try runCLI(Array(arguments) + flags)
            // 1 for a failed run, 64 (EX_USAGE, swift-argument-parser's) for a flag refused by validation; a trap
            // would be 132/133/134.
            XCTAssertTrue([1, 64].contains(r.status), "\(flags) exited \(r.status): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(expected), "\(flags): \(r.stderr)")
        }
    }

    /// Negative coordinates parse as a value of --box; a box entirely outside the image is refused by name, one
    /// partly outside is used.
    func testBoxesWithNegativeCoordinatesAndBoxesOutsideTheImage() throws {
        let outside = try runCLI(
            base + ["--box", "-50,-50,-10,-10", "--prompt", "What is this?", "--max-new-tokens", "1"])
        XCTAssertEqual(outside.status, 64, outside.stderr)
        XCTAssertTrue(outside.stderr.contains("--box \"-50,-50,-10,-10\" lies entirely outside the"), outside.stderr)
        let partly = try runCLI(base + ["--box", "-50,-50,40,40", "--prompt", "What is this?", "--max-new-tokens", "1"])
        XCTAssertEqual(partly.status, 0, partly.stderr)
        XCTAssertFalse(partly.stderr.contains("dummy box"), partly.stderr)
    }

    func testOverlongPromptIsRefusedBeforeCompute() throws {
        let long = String(repeating: "word ", count: 700)  // the tiny model's context is 512
        let r = try runCLI(base + ["--prompt", long])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("context is 512"), r.stderr)
    }

    func testEstimateMemory() throws {
        let r = try runCLI(base + ["--estimate-memory"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("total weights resident"), r.stdout)
    }

    /// `--detector` with no --boxes/--box: OWLv2's boxes are made, said once with the count, and the answer is the
    /// one the same boxes given by hand produce.
    func testDetectorMakesTheBoxesWhenNoneAreGiven() throws {
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let queries = DetectionQueries(tags: ["person", "suit", "tie"], threshold: 0.5)
        let found = try detector.detect(image, queries: queries)
        XCTAssertFalse(found.isEmpty)
        let prompt = ["--max-new-tokens", "8", "--json", "--prompt", question]
        let detected = try runCLI(
            base + prompt + [
                "--detector", Fixtures.url("owlv2/owlv2-tiny").path, "--queries", "Person, suit,tie",
                "--threshold", "0.5"
            ])
        XCTAssertEqual(detected.status, 0, detected.stderr)
        XCTAssertTrue(detected.stderr.contains("OWLv2 found \(found.count) boxes for 3 tags"), detected.stderr)
        XCTAssertFalse(detected.stderr.contains("dummy box"), detected.stderr)
        // The same boxes, scores and labels as a box JSON (labels matter: NMS and the caps are per label).
        let manual = try answer(givenBoxes: found, prompt: prompt)
        XCTAssertEqual(try ids(detected.stdout), try ids(manual.stdout))
        let dummy = try runCLI(base + prompt)
        XCTAssertNotEqual(try ids(detected.stdout), try ids(dummy.stdout), "the boxes change the answer")
    }

    /// `--tagger` with `--detector`: RAM++ chooses the tags (reported), OWLv2 makes the boxes, and the answer is
    /// the one the library's RAM++ → OWLv2 boxes given by hand produce.
    func testTaggerChoosesTheTagsForTheDetector() throws {
        let tagger = try RAMPlusTagger.load(Fixtures.url("ram/ram-plus-tiny"))
        let pipeline = TaggedBoxDetector(
            tagger: tagger, detector: try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny")))
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let found = try pipeline.detect(image, queries: DetectionQueries(tags: [], threshold: 0.5))
        XCTAssertFalse(found.isEmpty)
        let prompt = ["--max-new-tokens", "8", "--json", "--prompt", question]
        let detected = try runCLI(
            base + prompt + [
                "--detector", Fixtures.url("owlv2/owlv2-tiny").path, "--tagger",
                Fixtures.url("ram/ram-plus-tiny").path, "--threshold", "0.5"
            ])
        XCTAssertEqual(detected.status, 0, detected.stderr)
        XCTAssertTrue(detected.stderr.contains("RAM++ tags: \(tagger.tag(image).tagString)\n"), detected.stderr)
        XCTAssertTrue(detected.stderr.contains("OWLv2 found \(found.count) boxes for tags from RAM++"), detected.stderr)
        XCTAssertEqual(try ids(detected.stdout), try ids(answer(givenBoxes: found, prompt: prompt).stdout))
    }

    /// `chat --json`'s answer with `found` given as a box JSON for photo0.
    private func answer(givenBoxes found: [DetectedBox], prompt: [String]) throws -> CLIResult {
        let file = try temporaryDirectory().appendingPathComponent("boxes.json")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        try JSONEncoder().encode([BoxRecord(id: .string("photo0"), detections: found)]).write(to: file)
        let manual = try runCLI(base + prompt + ["--boxes", file.path, "--box-id", "photo0"])
        XCTAssertEqual(manual.status, 0, manual.stderr)
        return manual
    }

    /// The generated ids of a `chat --json` answer.
    private func ids(_ stdout: String) throws -> [Int] {
        let json = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(json?["generated_ids"] as? [Int])
    }

    /// `--adapter`: a PEFT LoRA folder on the LLM, unmerged; the answer is the library's with the same adapter, and
    /// differs from the base model's.
    func testAdapterChangesTheAnswerAsTheLibraryDoes() throws {
        let adapter = Fixtures.url("lora/vicuna-tiny-r4/adapter")
        let prompt = ["--max-new-tokens", "8", "--json", "--prompt", question]
        let adapted = try runCLI(base + prompt + ["--adapter", adapter.path])
        XCTAssertEqual(adapted.status, 0, adapted.stderr)
        XCTAssertTrue(adapted.stderr.contains("LoRA r 4"), adapted.stderr)
        let plain = try runCLI(base + prompt)
        XCTAssertNotEqual(try ids(adapted.stdout), try ids(plain.stdout))
        let pipeline = try InferencePipeline.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"), pth: Fixtures.url("models/mgllava-tiny/sft.pth"),
            adapter: adapter, tokenizer: Fixtures.url("tokenizers/vicuna-tiny"), imageSizeAux: 128)
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let session = try pipeline.chat(about: image)
        let reply = try withNoGrad { try session.send(question, maxNewTokens: 8, sampling: .greedy) }
        XCTAssertEqual(try ids(adapted.stdout), reply.ids)
    }
}
