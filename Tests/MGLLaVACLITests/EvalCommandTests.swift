import Foundation
import MGData
import MGLLaVA
import MGTestSupport
import XCTest

/// `mgllava eval mmbench` on the fixture TSV with the tiny fixture models (explicit paths, as `chat` takes them),
/// resuming from its predictions file and skipping broken rows; `mgllava eval score mmbench` on the fixture
/// predictions reproduces upstream's scores exactly.
final class EvalCommandTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws { dir = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func expectedPercent() throws -> [String: Double] {
        let object = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Fixtures.url("reference/mmbench/expected.json")))
        return try XCTUnwrap((object as? [String: Any])?["scores_percent"] as? [String: Double])
    }

    func testScoreReproducesUpstreamOnTheFixturePredictions() throws {
        let work = dir.appendingPathComponent("scored")
        let result = try runCLI([
            "eval", "score", "mmbench", "--data", Fixtures.url("reference/mmbench/mmbench_dev.tsv").path,
            "--predictions", Fixtures.url("reference/mmbench/predictions.jsonl").path,
            "--work-dir", work.path
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: work.appendingPathComponent("mmbench_dev-results.json")))
        let percent = try XCTUnwrap((json as? [String: Any])?["scores_percent"] as? [String: Double])
        for (name, value) in try expectedPercent() {
            XCTAssertEqual(try XCTUnwrap(percent[name], name), value, accuracy: 1e-9, name)
        }
        XCTAssertTrue(result.stdout.contains("Average"), result.stdout)
        XCTAssertTrue(result.stdout.contains("50.00"), result.stdout)
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: work.appendingPathComponent("mmbench_dev-results.xlsx").path))

        // The test split: no score, the xlsx is the submission, and the command says so.
        let test = try runCLI([
            "eval", "score", "mmbench", "--data", Fixtures.url("reference/mmbench/mmbench_test.tsv").path,
            "--predictions", Fixtures.url("reference/mmbench/predictions_test.jsonl").path,
            "--work-dir", work.path
        ])
        XCTAssertEqual(test.status, 0, test.stderr)
        XCTAssertTrue(test.stdout.contains("test split"), test.stdout)
        XCTAssertTrue(test.stdout.contains("mmbench_test-results.xlsx is the file to submit"), test.stdout)

        // A predictions file missing a row is an error naming the index.
        let partial = dir.appendingPathComponent("partial.jsonl")
        try Data("{\"index\": 0, \"prediction\": \"A\"}\n".utf8).write(to: partial)
        let missing = try runCLI([
            "eval", "score", "mmbench", "--data", Fixtures.url("reference/mmbench/mmbench_dev.tsv").path,
            "--predictions", partial.path, "--work-dir", work.path
        ])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("1000007") || missing.stderr.contains("index"), missing.stderr)
    }

    /// The fixture LLM folder with its tokenizer beside the weights, as a downloaded HF folder has them.
    private func llmFolder() throws -> URL {
        let llm = dir.appendingPathComponent("vicuna-tiny")
        try FileManager.default.copyItem(at: Fixtures.url("models/vicuna-tiny"), to: llm)
        for file in ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(
                at: Fixtures.url("tokenizers/vicuna-tiny/\(file)"), to: llm.appendingPathComponent(file))
        }
        return llm
    }

    private func evalArguments(data: URL, work: URL) throws -> [String] {
        [
            "eval", "mmbench", "--llm", try llmFolder().path, "--visual-encoder",
            Fixtures.url("models/clip-vit-tiny").path,
            "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path,
            "--pth", Fixtures.url("models/mgllava-tiny/sft.pth").path, "--image-size-aux", "128",
            "--data", data.path, "--work-dir", work.path, "--max-new-tokens", "4"
        ]
    }

    func testEvalRunsOnTheFixtureTSVAndResumes() throws {
        let work = dir.appendingPathComponent("eval")
        let arguments = try evalArguments(data: Fixtures.url("reference/mmbench/mmbench_dev.tsv"), work: work)
        // A quick look at the first rows, then the whole file: the first rows are not generated again.
        let quick = try runCLI(arguments + ["--limit", "5"])
        XCTAssertEqual(quick.status, 0, quick.stderr)
        let full = try runCLI(arguments)
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertTrue(full.stdout.contains("resuming: 5 rows already predicted"), full.stdout)
        XCTAssertTrue(full.stdout.contains("Average"), full.stdout)
        let log = try String(contentsOf: work.appendingPathComponent("mmbench_dev-predictions.jsonl"), encoding: .utf8)
        let lines = log.split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + 17, "header + one line per row")
        XCTAssertTrue(lines[0].hasPrefix("{\"meta\":"))
        // Re-scoring the log without the model gives the same table.
        let rescored = try runCLI([
            "eval", "score", "mmbench", "--data", Fixtures.url("reference/mmbench/mmbench_dev.tsv").path,
            "--predictions", work.appendingPathComponent("mmbench_dev-predictions.jsonl").path,
            "--work-dir", dir.appendingPathComponent("rescored").path
        ])
        XCTAssertEqual(rescored.status, 0, rescored.stderr)
        let table = { (text: String) in
            text.components(separatedBy: "Category")[1].components(separatedBy: "outputs:")[0]
        }
        XCTAssertEqual(table(rescored.stdout), table(full.stdout))
    }

    /// `--tagger` with `--detector`: every image's boxes come from upstream's RAM++ → OWLv2 pipeline.
    func testPOPEWithTaggerAndDetector() throws {
        let line = #"{"question_id": 7, "image": "photo0.jpg", "text": "Is there a dog in the image?", "label": "no"}"#
        let random = dir.appendingPathComponent("coco_pope_random.json")
        try line.write(to: random, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("pope-tagged")
        var arguments = try evalArguments(data: random, work: work)
        arguments[1] = "pope"
        arguments += [
            "--image-folder", Fixtures.url("preprocess").path, "--detector", Fixtures.url("owlv2/owlv2-tiny").path,
            "--tagger", Fixtures.url("ram/ram-plus-tiny").path, "--threshold", "0.5"
        ]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("tags from RAM++"), result.stdout)
        let record = try BoxIndex.load(contentsOf: work.appendingPathComponent("detected-boxes.json")).record(for: "7")
        let pipeline = TaggedBoxDetector(
            tagger: try RAMPlusTagger.load(Fixtures.url("ram/ram-plus-tiny")),
            detector: try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny")))
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let expected = try pipeline.detect(image, queries: DetectionQueries(tags: [], threshold: 0.5))
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(record.boxes, expected.map { $0.box.map(Double.init) })
        XCTAssertEqual(record.labels, expected.map(\.label))
    }

    /// `--detector` with no box JSON: every image gets OWLv2's boxes (tiny fixture detector), recorded in
    /// detected-boxes.json under the questions' ids, which the same run's answers used.
    func testPOPEWithDetectorMakesAndRecordsBoxes() throws {
        let lines = [
            #"{"question_id": 1, "image": "photo0.jpg", "text": "Is there a person in the image?", "label": "yes"}"#,
            #"{"question_id": 2, "image": "photo1.png", "text": "Is there a dog in the image?", "label": "no"}"#
        ]
        let random = dir.appendingPathComponent("coco_pope_random.json")
        try lines.joined(separator: "\n").write(to: random, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("pope-detected")
        var arguments = try evalArguments(data: random, work: work)
        arguments[1] = "pope"
        arguments += [
            "--image-folder", Fixtures.url("preprocess").path, "--detector", Fixtures.url("owlv2/owlv2-tiny").path,
            "--queries", "person,dog,remote", "--threshold", "0.5"
        ]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("detector: "), result.stdout)
        XCTAssertTrue(result.stdout.contains("OWLv2 boxes for 2 images"), result.stdout)
        let boxes = try BoxIndex.load(contentsOf: work.appendingPathComponent("detected-boxes.json"))
        XCTAssertEqual(Set(boxes.records.keys), ["1", "2"])
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let expected = try detector.detect(
            image, queries: DetectionQueries(tags: ["person", "dog", "remote"], threshold: 0.5))
        let record = try boxes.record(for: "1")
        XCTAssertEqual(record.boxes, expected.map { $0.box.map(Double.init) })
        XCTAssertEqual(record.labels, expected.map(\.label))
        XCTAssertFalse(expected.isEmpty)
        // A detector folder with a missing file fails before the model loads, naming the file.
        let broken = dir.appendingPathComponent("owlv2-broken")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: Fixtures.url("owlv2/owlv2-tiny/config.json"), to: broken.appendingPathComponent("config.json"))
        var bad = arguments
        bad[bad.firstIndex(of: Fixtures.url("owlv2/owlv2-tiny").path) ?? 0] = broken.path
        let failed = try runCLI(bad)
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains("preprocessor_config.json"), failed.stderr)
        XCTAssertFalse(failed.stdout.contains("loading "), "refused before the model loads")
    }

    func testPOPERunsEndToEndWithPerSplitScores() throws {
        // Two tiny splits over the fixture photos, one question with a missing image.
        let lines = [
            #"{"question_id": 1, "image": "photo0.jpg", "text": "Is there a person in the image?", "label": "yes"}"#,
            #"{"question_id": 2, "image": "photo1.png", "text": "Is there a dog in the image?", "label": "no"}"#,
            #"{"question_id": 3, "image": "photo2.jpg", "text": "Is there a car in the image?", "label": "no"}"#,
            #"{"question_id": 4, "image": "missing.jpg", "text": "Is there a cat in the image?", "label": "yes"}"#
        ]
        let random = dir.appendingPathComponent("coco_pope_random.json")
        let popular = dir.appendingPathComponent("coco_pope_popular.json")
        try lines.joined(separator: "\n").write(to: random, atomically: true, encoding: .utf8)
        try lines.prefix(2).joined(separator: "\n").write(to: popular, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("pope")
        var arguments = try evalArguments(data: random, work: work)
        arguments[1] = "pope"
        arguments += ["--data", popular.path, "--image-folder", Fixtures.url("preprocess").path]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("coco_pope_random"), result.stdout)
        XCTAssertTrue(result.stdout.contains("coco_pope_popular"), result.stdout)
        XCTAssertTrue(result.stdout.contains("score (mean F1)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("1 questions skipped"), result.stdout)
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: work.appendingPathComponent("pope-results.json")))
        let splits = try XCTUnwrap((json as? [String: Any])?["splits"] as? [[String: Any]])
        XCTAssertEqual(splits.count, 2)
        XCTAssertEqual(splits.compactMap { $0["count"] as? Int }.sorted(), [2, 4])
    }

    func testTextVQARunsEndToEnd() throws {
        let questions = dir.appendingPathComponent("llava_textvqa_val.jsonl")
        try [
            #"{"question_id": "img0", "image": "photo0.jpg", "text": "What is written?\nAnswer the question using a single word or phrase."}"#,
            #"{"question_id": "img1", "image": "photo1.png", "text": "What colour is it?\nAnswer the question using a single word or phrase."}"#
        ]
        .joined(separator: "\n").write(to: questions, atomically: true, encoding: .utf8)
        let ten = { (a: String) in Array(repeating: "\"\(a)\"", count: 10).joined(separator: ", ") }
        let annotations = dir.appendingPathComponent("TextVQA_val.json")
        try """
        {"data": [{"image_id": "img0", "question": "What is written?", "answers": [\(ten("stop"))]},
                  {"image_id": "img1", "question": "What colour is it?", "answers": [\(ten("red"))]}]}
        """.write(to: annotations, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("textvqa")
        var arguments = try evalArguments(data: questions, work: work)
        arguments[1] = "textvqa"
        arguments += ["--annotations", annotations.path, "--image-folder", Fixtures.url("preprocess").path]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("TextVQA accuracy:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(2 questions)"), result.stdout)
        let json = try JSONSerialization.jsonObject(
            with: Data(contentsOf: work.appendingPathComponent("llava_textvqa_val-results.json")))
        XCTAssertEqual(((json as? [String: Any])?["perQuestion"] as? [Double])?.count, 2)
    }

    func testGQARunsEndToEnd() throws {
        let asked = dir.appendingPathComponent("llava_gqa_testdev_balanced.jsonl")
        try [
            #"{"question_id": "201", "image": "photo0.jpg", "text": "Is it sunny?\nAnswer the question using a single word or phrase."}"#,
            #"{"question_id": "202", "image": "photo2.jpg", "text": "What is on the table?\nAnswer the question using a single word or phrase."}"#
        ]
        .joined(separator: "\n").write(to: asked, atomically: true, encoding: .utf8)
        let official = dir.appendingPathComponent("testdev_balanced_questions.json")
        try """
        {"201": {"question": "Is it sunny?", "answer": "yes", "isBalanced": true,
                 "types": {"structural": "verify", "semantic": "attr"},
                 "semantic": [{"operation": "select", "argument": "sky"}, {"operation": "verify weather", "argument": "sunny"}],
                 "groups": {"global": null}},
         "202": {"question": "What is on the table?", "answer": "cup", "isBalanced": true,
                 "types": {"structural": "query", "semantic": "rel"},
                 "semantic": [{"operation": "select", "argument": "table"}, {"operation": "query", "argument": "name"}],
                 "groups": {"global": "tableware"}}}
        """.write(to: official, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("gqa")
        var arguments = try evalArguments(data: asked, work: work)
        arguments[1] = "gqa"
        arguments += ["--questions", official.path, "--image-folder", Fixtures.url("preprocess").path]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("GQA accuracy:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("2 questions"), result.stdout)
        let rows = try JSONSerialization.jsonObject(
            with: Data(contentsOf: work.appendingPathComponent("testdev_balanced_predictions.json")))
        XCTAssertEqual((rows as? [[String: String]])?.map { $0["questionId"] }, ["201", "202"])
    }

    func testVQAv2WritesTheUploadFileOverEveryTestID() throws {
        let asked = dir.appendingPathComponent("llava_vqav2_test-dev.jsonl")
        try [
            #"{"question_id": 11, "image": "photo0.jpg", "text": "What is this?\nAnswer the question using a single word or phrase."}"#
        ]
        .joined(separator: "\n").write(to: asked, atomically: true, encoding: .utf8)
        let all = dir.appendingPathComponent("llava_vqav2_test.jsonl")
        try [
            #"{"question_id": 10, "image": "a.jpg", "text": "x"}"#,
            #"{"question_id": 11, "image": "photo0.jpg", "text": "y"}"#
        ]
        .joined(separator: "\n").write(to: all, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("vqav2")
        var arguments = try evalArguments(data: asked, work: work)
        arguments[1] = "vqav2"
        arguments += ["--test-questions", all.path, "--image-folder", Fixtures.url("preprocess").path]
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("2 entries (1 unanswered"), result.stdout)
        let rows = try JSONSerialization.jsonObject(
            with: Data(contentsOf: work.appendingPathComponent("vqav2_testdev_balanced_predictions.json")))
        let list = try XCTUnwrap(rows as? [[String: Any]])
        XCTAssertEqual(list.compactMap { $0["question_id"] as? Int }, [10, 11])
        XCTAssertEqual(list.first?["answer"] as? String, "")
    }

    func testMMERunsEndToEnd() throws {
        let photo0 = try Data(contentsOf: Fixtures.url("preprocess/photo0.jpg")).base64EncodedString()
        let photo1 = try Data(contentsOf: Fixtures.url("preprocess/photo1.png")).base64EncodedString()
        // Two questions per image (accuracy+ pairs them); the second row of each image refers to the first's index.
        let rows = [
            "index\timage\tquestion\tanswer\tcategory\timage_path",
            "0\t\(photo0)\tIs there a person in this image? Please answer yes or no.\tYes\texistence\texistence/0.jpg",
            "1\t0\tIs there a giraffe in this image? Please answer yes or no.\tNo\texistence\texistence/0.jpg",
            "2\t\(photo1)\tIs the word STOP in the image? Please answer yes or no.\tNo\tOCR\tOCR/1.png",
            "3\t2\tIs there any text in the image? Please answer yes or no.\tYes\tOCR\tOCR/1.png"
        ]
        let tsv = dir.appendingPathComponent("MME.tsv")
        try rows.joined(separator: "\n").write(to: tsv, atomically: true, encoding: .utf8)
        let work = dir.appendingPathComponent("mme")
        var arguments = try evalArguments(data: tsv, work: work)
        arguments[1] = "mme"
        let result = try runCLI(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("existence"), result.stdout)
        XCTAssertTrue(result.stdout.contains("OCR"), result.stdout)
        XCTAssertTrue(result.stdout.contains("perception"), result.stdout)
        XCTAssertFalse(result.stdout.contains("rows skipped"), result.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work.appendingPathComponent("MME-results.json").path))
    }

    func testBrokenImageRowsAreSkippedAndCounted() throws {
        // Break the base64 of main question 0 (its circular copies refer to it).
        var lines = try String(contentsOf: Fixtures.url("reference/mmbench/mmbench_dev.tsv"), encoding: .utf8)
            .components(separatedBy: "\n")
        let row = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("0\t") })
        var fields = lines[row].components(separatedBy: "\t")
        fields[9] = "!!!! not base64 at all !!!!"
        lines[row] = fields.joined(separator: "\t")
        let tsv = dir.appendingPathComponent("broken.tsv")
        try lines.joined(separator: "\n").write(to: tsv, atomically: true, encoding: .utf8)

        let result = try runCLI(try evalArguments(data: tsv, work: dir.appendingPathComponent("broken")))
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("rows skipped (scored as wrong)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("index 0:"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Average"), result.stdout)
    }
}
