import XCTest
import Foundation
import MGEval
import MGTestSupport

/// MMBench-style evaluation against `reference/mmbench/` (upstream `MultipleChoiceDataset` outputs), plus
/// malformed inputs and circular groups built in code.
final class MultipleChoiceTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("mgeval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tempDir) }

    // MARK: Helpers

    private var devURL: URL { Fixtures.url("reference/mmbench/mmbench_dev.tsv") }
    private var testURL: URL { Fixtures.url("reference/mmbench/mmbench_test.tsv") }

    private func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: Fixtures.url("reference/mmbench/expected.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `{index, prediction}` per line.
    private func predictions(_ name: String) throws -> [Int: String] {
        let text = try String(contentsOf: Fixtures.url("reference/mmbench/\(name)"), encoding: .utf8)
        var result: [Int: String] = [:]
        for line in text.split(separator: "\n") where !line.isEmpty {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let index = try XCTUnwrap(object["index"] as? Int)
            result[index] = try XCTUnwrap(object["prediction"] as? String)
        }
        return result
    }

    /// The key order of expected.json's `scores` object (JSONSerialization drops it; upstream's order matters).
    private func expectedScoreOrder() throws -> [String] {
        let text = try String(contentsOf: Fixtures.url("reference/mmbench/expected.json"), encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "\"scores\": {"))
        let end = try XCTUnwrap(text.range(of: "}", range: start.upperBound..<text.endIndex))
        return text[start.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\"")
            return parts.count >= 2 ? String(parts[1]) : nil
        }
    }

    private func write(_ text: String, _ name: String = "bench.tsv") throws -> URL {
        let url = tempDir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// A valid base64 image stand-in ("hello world hello"): long enough (≥ 16 characters) not to be a reference.
    private let image = "aGVsbG8gd29ybGQgaGVsbG8="

    // MARK: Reference fixture

    func testPromptsMatchUpstream() throws {
        let dataset = try MultipleChoiceDataset.load(devURL)
        let prompts = try XCTUnwrap(try expected()["prompts"] as? [String: String])
        XCTAssertEqual(dataset.rows.count, 17)
        XCTAssertEqual(prompts.count, dataset.rows.count)
        for row in dataset.rows {
            XCTAssertEqual(dataset.promptText(for: row), prompts[String(row.index)], "row index \(row.index)")
        }
        // Spot checks of the row model: hint, 3-option rows, the Chinese question.
        let row0 = try XCTUnwrap(dataset.row(index: 0))
        XCTAssertEqual(row0.hint, "The photo was taken outdoors.")
        XCTAssertEqual(row0.options.map(\.letter), ["A", "B", "C", "D"])
        XCTAssertEqual(row0.category, "object_localization")
        XCTAssertEqual(row0.l2Category, "FP-S")
        XCTAssertEqual(row0.split, "dev")
        XCTAssertEqual(row0.answer, "A")
        XCTAssertNil(try XCTUnwrap(dataset.row(index: 2)).hint)
        XCTAssertEqual(try XCTUnwrap(dataset.row(index: 2)).options.map(\.text), ["a dog", "a cat", "a bird"])
        XCTAssertTrue(dataset.promptText(for: try XCTUnwrap(dataset.row(index: 4))).hasSuffix("请直接回答选项字母。"))
    }

    func testSplitDetection() throws {
        XCTAssertEqual(try MultipleChoiceDataset.load(devURL).split, "dev")
        let test = try MultipleChoiceDataset.load(testURL)
        XCTAssertEqual(test.split, "test")
        XCTAssertTrue(test.rows.allSatisfy { $0.answer == nil })
        XCTAssertTrue(test.hasL2Category)
    }

    func testImageReferencesResolveAndDecode() throws {
        let dataset = try MultipleChoiceDataset.load(devURL)
        for row in dataset.rows {
            let bytes = [UInt8](try dataset.imageData(for: row))
            let isJPEG = bytes.starts(with: [0xFF, 0xD8, 0xFF])
            let isPNG = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47])
            XCTAssertTrue(isJPEG || isPNG, "row index \(row.index)")
            // Circular copies carry their main row's index in `image`; they must see the main row's image.
            if row.index >= 1_000_000 {
                let main = try XCTUnwrap(dataset.row(index: row.index % 1_000_000))
                XCTAssertEqual(row.image, main.image, "row index \(row.index)")
            }
        }
    }

    func testAnswerExtractionMatchesUpstream() throws {
        let perRow = try XCTUnwrap(try expected()["per_row"] as? [[String: Any]])
        for entry in perRow {
            let prediction = try XCTUnwrap(entry["prediction"] as? String)
            XCTAssertEqual(MultipleChoiceScorer.extractAnswer(prediction), entry["extracted"] as? String, prediction)
        }
        // The regex `([A-D]+)`: the first run of capital A–D, greedy; nothing else counts.
        let cases = [
            "": "", "e": "", "abcd": "", "ABCDE": "ABCD", "xAxB": "A", "E. BAD": "BAD", "(C)": "C",
            "答案：Ｂ": "", "Option DA, or B": "DA"
        ]
        for (prediction, letters) in cases {
            XCTAssertEqual(MultipleChoiceScorer.extractAnswer(prediction), letters, prediction)
        }
    }

    func testDevScoresMatchUpstream() throws {
        let dataset = try MultipleChoiceDataset.load(devURL)
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions("predictions.jsonl"))
        let reference = try expected()
        let expectedScores = try XCTUnwrap(reference["scores"] as? [String: Double])
        XCTAssertEqual(scores.split, "dev")
        XCTAssertEqual(scores.scores.map(\.name), try expectedScoreOrder())
        XCTAssertEqual(Set(scores.scores.map(\.name)), Set(expectedScores.keys))
        for score in scores.scores {
            let value = try XCTUnwrap(expectedScores[score.name], score.name)
            XCTAssertEqual(score.value, value, accuracy: 1e-9, score.name)
        }
        XCTAssertEqual(scores["Average"], 0.5)
        XCTAssertTrue(scores.splitScores.isEmpty)

        let hits = try XCTUnwrap(reference["main_hits"] as? [String: Int])
        XCTAssertEqual(scores.mainHits, Dictionary(uniqueKeysWithValues: hits.map { (Int($0.key) ?? -1, $0.value) }))

        let perRow = try XCTUnwrap(reference["per_row"] as? [[String: Any]])
        XCTAssertEqual(scores.perRow.count, perRow.count)
        for (got, want) in zip(scores.perRow, perRow) {
            XCTAssertEqual(got.index, want["index"] as? Int)
            XCTAssertEqual(got.prediction, want["prediction"] as? String)
            XCTAssertEqual(got.extracted, want["extracted"] as? String)
            XCTAssertEqual(got.answer, want["answer"] as? String)
            XCTAssertEqual(got.correct, want["correct"] as? Bool)
        }

        let table = scores.table(title: "MMBench dev")
        XCTAssertTrue(table.contains("Average"), table)
        XCTAssertTrue(table.contains("50.00"), table)
        XCTAssertTrue(table.contains("33.33"), table)
        XCTAssertTrue(table.contains("66.67"), table)
        let lines = table.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "MMBench dev")
        XCTAssertTrue(lines[3].hasPrefix("Average"), table)
    }

    func testTestSplitOnlyExports() throws {
        let dataset = try MultipleChoiceDataset.load(testURL)
        let scores = try MultipleChoiceScorer.evaluate(
            dataset: dataset, predictions: predictions("predictions_test.jsonl"))
        let reference = try XCTUnwrap(try expected()["test_split"] as? [String: Any])
        XCTAssertEqual(scores.split, reference["split"] as? String)
        XCTAssertEqual(scores.scores, [MultipleChoiceScore(name: "Average", value: 0)])
        XCTAssertTrue(scores.mainHits.isEmpty)
        XCTAssertEqual(scores.perRow.count, dataset.rows.count)
        XCTAssertTrue(scores.perRow.allSatisfy { $0.correct == nil && $0.extracted == "A" })

        let files = try MultipleChoiceResults.write(dataset: dataset, scores: scores, to: tempDir)
        let csv = try String(contentsOf: files.csv, encoding: .utf8)
        XCTAssertEqual(files.csv.lastPathComponent, "mmbench_test-results.csv")
        XCTAssertTrue(csv.hasPrefix("question,A,B,C,D,prediction,category,l2-category,index,split,answer\n"), csv)
        XCTAssertTrue(
            csv.contains(
                "\nWhat is the main object in the image?,a rocket,a cat,a cup,a horse,A,"
                    + "object_localization,FP-S,1000,test,\n"), csv)
    }

    func testResultsFilesRoundTrip() throws {
        let dataset = try MultipleChoiceDataset.load(devURL)
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions("predictions.jsonl"))
        let workDir = tempDir.appendingPathComponent("work/dir")  // created on demand
        let files = try MultipleChoiceResults.write(dataset: dataset, scores: scores, to: workDir)
        XCTAssertEqual(
            files.all.map(\.lastPathComponent),
            ["mmbench_dev-results.xlsx", "mmbench_dev-results.csv", "mmbench_dev-results.json"])

        let csv = try String(contentsOf: files.csv, encoding: .utf8)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, dataset.rows.count + 2)  // header, rows, trailing newline
        XCTAssertEqual(lines[0], "question,A,B,C,D,prediction,category,l2-category,index,split,answer")
        // File order, as upstream; a 3-option row leaves D empty.
        XCTAssertEqual(
            lines[1], "How many cups are visible?,two,three,four,one,D,object_localization,FP-S,1000007,dev,D")
        XCTAssertTrue(lines.contains("What animal is shown?,a bird,a dog,a cat,,C,image_topic,CP,2000002,dev,C"), csv)
        XCTAssertTrue(lines.contains("图中是什么饮料？,咖啡,茶,果汁,水,答案是A,image_topic,CP,4,dev,A"), csv)

        let decoded = try JSONDecoder().decode(MultipleChoiceScores.self, from: Data(contentsOf: files.json))
        XCTAssertEqual(decoded, scores)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: files.json)) as? [String: Any])
        let percent = try XCTUnwrap(object["scores_percent"] as? [String: Double])
        let reference = try XCTUnwrap(try expected()["scores_percent"] as? [String: Double])
        for (name, value) in reference { XCTAssertEqual(try XCTUnwrap(percent[name]), value, accuracy: 1e-9, name) }
        XCTAssertEqual((object["main_hits"] as? [String: Int])?["2"], 0)

        // Writing again replaces the files (atomic rename over the old ones) and leaves no temporaries behind.
        try MultipleChoiceResults.write(dataset: dataset, scores: scores, to: workDir)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: workDir.path).sorted(),
            ["mmbench_dev-results.csv", "mmbench_dev-results.json", "mmbench_dev-results.xlsx"])
    }

    func testCSVQuoting() throws {
        let rows = [
            MultipleChoiceRow(
                index: 0, question: "Say \"hi\", then\nwave", hint: nil,
                options: [
                    MultipleChoiceOption(letter: "A", text: "a, b"),
                    MultipleChoiceOption(letter: "B", text: "plain")
                ],
                answer: "A", category: "c", l2Category: nil, split: nil, image: image, line: 2)
        ]
        let dataset = MultipleChoiceDataset(
            url: tempDir.appendingPathComponent("x.tsv"), rows: rows, split: "dev",
            hasL2Category: false)
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: [0: "A"])
        XCTAssertEqual(
            try MultipleChoiceResults.csvText(dataset: dataset, scores: scores),
            "question,A,B,prediction,category,index,split,answer\n"
                + "\"Say \"\"hi\"\", then\nwave\",\"a, b\",plain,A,c,0,,A\n")
    }

    // MARK: Circular evaluation built in code

    func testCircularGroupsAndCategories() throws {
        // Main 0 with two rotated copies, main 1 with one copy, main 2 alone, and a copy (1000009) of a main
        // question the file does not have, which upstream never looks at.
        let header = "index\tquestion\tA\tB\tC\tanswer\tcategory\timage"
        let lines = [
            "0\tq0\tx\ty\tz\tA\tcat_b\t\(image)",
            "1000000\tq0\ty\tz\tx\tC\tcat_b\t0",
            "2000000\tq0\tz\tx\ty\tB\tcat_b\t0",
            "1\tq1\tx\ty\t\tB\tcat_a\t\(image)",
            "1000001\tq1\ty\tx\t\tA\tcat_a\t1",
            "2\tq2\tx\ty\tz\tC\tcat_a\t\(image)",
            "1000009\tq9\tx\ty\tz\tA\tcat_c\t\(image)"
        ]
        let dataset = try MultipleChoiceDataset.load(write(([header] + lines).joined(separator: "\n") + "\n"))
        XCTAssertFalse(dataset.hasL2Category)

        // Every row right: all three main questions hit.
        let allRight: [Int: String] = [
            0: "A", 1_000_000: "C", 2_000_000: "B", 1: "B", 1_000_001: "A", 2: "C",
            1_000_009: "D"
        ]
        var scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: allRight)
        XCTAssertEqual(scores.mainHits, [0: 1, 1: 1, 2: 1])
        XCTAssertEqual(scores.scores.map(\.name), ["Average", "cat_a", "cat_b"])
        XCTAssertEqual(scores.scores.map(\.value), [1, 1, 1])

        // One wrong copy sinks its whole group, however right the main row is.
        var oneCopyWrong = allRight
        oneCopyWrong[2_000_000] = "The answer is A"
        scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: oneCopyWrong)
        XCTAssertEqual(scores.mainHits, [0: 0, 1: 1, 2: 1])
        XCTAssertEqual(scores["Average"] ?? -1, 2.0 / 3.0, accuracy: 1e-15)
        XCTAssertEqual(scores["cat_a"], 1)
        XCTAssertEqual(scores["cat_b"], 0)
        XCTAssertEqual(scores.perRow.map(\.index), [0, 1, 2, 1_000_000, 1_000_001, 1_000_009, 2_000_000])
        XCTAssertEqual(scores.perRow.last?.correct, false)

        // A wrong main row with right copies fails too; lower-case letters do not count.
        var mainWrong = allRight
        mainWrong[1] = "b"
        scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: mainWrong)
        XCTAssertEqual(scores.mainHits, [0: 1, 1: 0, 2: 1])
        XCTAssertEqual(scores["cat_a"], 0.5)
    }

    func testL2CategoriesAndSeveralSplits() throws {
        let header = "index\tquestion\tA\tB\tanswer\tcategory\tl2-category\tsplit\timage"
        let lines = [
            "0\tq\tx\ty\tA\tzeta\tP\tdev\t\(image)",
            "1\tq\tx\ty\tA\talpha\tP\tdev\t\(image)",
            "2\tq\tx\ty\tB\talpha\tQ\tval\t\(image)",
            "3\tq\tx\ty\tB\tBeta\tQ\tval\t\(image)"
        ]
        let dataset = try MultipleChoiceDataset.load(write(([header] + lines).joined(separator: "\n") + "\n"))
        let scores = try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: [0: "A", 1: "B", 2: "B", 3: "A"])
        // Per split, Average, l2 then categories, sorted by code point ("Beta" before "alpha"); `scores` is the
        // last split.
        XCTAssertEqual(scores.splitScores.map(\.split), ["dev", "val"])
        XCTAssertEqual(
            scores.splitScores[0].scores,
            [
                MultipleChoiceScore(name: "Average", value: 0.5), MultipleChoiceScore(name: "P", value: 0.5),
                MultipleChoiceScore(name: "alpha", value: 0), MultipleChoiceScore(name: "zeta", value: 1)
            ])
        XCTAssertEqual(
            scores.scores,
            [
                MultipleChoiceScore(name: "Average", value: 0.5), MultipleChoiceScore(name: "Q", value: 0.5),
                MultipleChoiceScore(name: "Beta", value: 0), MultipleChoiceScore(name: "alpha", value: 1)
            ])
        let decoded = try JSONDecoder().decode(MultipleChoiceScores.self, from: JSONEncoder().encode(scores))
        XCTAssertEqual(decoded, scores)
    }

    func testChineseDetectionCoversHintAndOptionsAndMMMURewrite() throws {
        let header = "index\tquestion\thint\tA\tB\tanswer\tcategory\timage"
        let lines = [
            "0\tWhich?\t\t猫\tdog\tA\tc\t\(image)",
            "1\tWhich?\t上下文\tcat\tdog\tA\tc\t\(image)",
            "2\tOpen question?\t\t\t\t42\tc\t\(image)"
        ]
        let dataset = try MultipleChoiceDataset.load(
            write(
                ([header] + lines).joined(separator: "\n") + "\n",
                "MMMU_DEV_VAL.tsv"))
        XCTAssertEqual(dataset.promptText(for: dataset.rows[0]), "<image>\nWhich?\nA. 猫\nB. dog\n请直接回答选项字母。")
        XCTAssertEqual(dataset.promptText(for: dataset.rows[1]), "<image>\n上下文\nWhich?\nA. cat\nB. dog\n请直接回答选项字母。")
        // MMMU_preproc: NaN in A turns an open question into "answer" vs "Other Answers".
        XCTAssertEqual(
            dataset.promptText(for: dataset.rows[2]),
            "<image>\nOpen question?\nA. 42\nB. Other Answers\nAnswer with the option's letter from the given "
                + "choices directly.")
    }

    func testNumericOptionColumnPrintsLikePandas() throws {
        // All-numeric option columns are numbers to pandas; with a NaN in the column they are float64 and the
        // f-string prints "3.0".
        let text =
            "index\tquestion\tA\tB\tC\tanswer\tcategory\timage\n"
            + "0\tHow many?\t2\t3\t4\tA\tc\t\(image)\n1\tHow many?\t5\t6\t\tB\tc\t\(image)\n"
        let dataset = try MultipleChoiceDataset.load(write(text))
        XCTAssertEqual(dataset.rows[0].options.map(\.text), ["2", "3", "4.0"])
        XCTAssertEqual(dataset.rows[1].options.map(\.text), ["5", "6"])
    }

    // MARK: Errors

    func testMalformedFixtureCopiesNameFileAndLine() throws {
        var lines = try String(contentsOf: devURL, encoding: .utf8).components(separatedBy: "\n")
        // Line 5 loses its last field.
        var fields = lines[4].components(separatedBy: "\t")
        fields.removeLast()
        lines[4] = fields.joined(separator: "\t")
        let short = try write(lines.joined(separator: "\n"), "short.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(short)) { error in
            XCTAssertEqual(
                error as? EvalError,
                .fieldCount(
                    file: short.path, line: 5, expected: 14, found: 13,
                    firstMissingColumn: "split"))
            XCTAssertTrue("\(error)".hasPrefix("\(short.path):5:"), "\(error)")
        }

        // A quote opened in line 8's question and never closed.
        lines = try String(contentsOf: devURL, encoding: .utf8).components(separatedBy: "\n")
        fields = lines[7].components(separatedBy: "\t")
        fields[1] = "\"" + fields[1]
        lines[7] = fields.joined(separator: "\t")
        let open = try write(lines.joined(separator: "\n"), "open.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(open)) { error in
            XCTAssertEqual(
                error as? EvalError, .unterminatedQuote(file: open.path, line: 8, field: 2, column: "question"))
            XCTAssertTrue("\(error)".hasPrefix("\(open.path):8:"), "\(error)")
        }
    }

    func testBadImageReference() throws {
        let text =
            "index\tquestion\tA\tB\tanswer\tcategory\timage\n"
            + "0\tq\tx\ty\tA\tc\t\(image)\n1000000\tq\ty\tx\tB\tc\t5\n"
        let url = try write(text)
        XCTAssertThrowsError(try MultipleChoiceDataset.load(url)) { error in
            XCTAssertEqual(
                error as? EvalError,
                .unknownImageReference(
                    file: url.path, line: 3, index: 1_000_000,
                    reference: "5"))
            let message = "\(error)"
            XCTAssertTrue(message.contains(url.path) && message.contains("1000000") && message.contains("'5'"), message)
        }
        // References that go round in a circle.
        let cycle = try write(
            "index\tquestion\tA\tanswer\tcategory\timage\n0\tq\tx\tA\tc\t1\n1\tq\tx\tA\tc\t0\n",
            "cycle.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(cycle)) { error in
            XCTAssertEqual(
                error as? EvalError, .imageReferenceCycle(file: cycle.path, line: 2, index: 0, chain: [0, 1, 0]))
        }
        // NaN image.
        let noImage = try write("index\tquestion\tA\tanswer\tcategory\timage\n0\tq\tx\tA\tc\t\n", "noimage.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(noImage)) { error in
            guard case EvalError.invalidValue(_, 2, "image", nil, _) = error else { return XCTFail("\(error)") }
        }
    }

    func testInvalidBase64() throws {
        let text =
            "index\tquestion\tA\tanswer\tcategory\timage\n"
            + "0\tq\tx\tA\tc\t\(image)\n7\tq\tx\tA\tc\tnot*base64*at*all!\n"
        let url = try write(text)
        let dataset = try MultipleChoiceDataset.load(url)
        XCTAssertNoThrow(try dataset.imageData(for: dataset.rows[0]))
        XCTAssertThrowsError(try dataset.imageData(for: dataset.rows[1])) { error in
            guard case EvalError.invalidBase64(let file, let line, let index, _) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, url.path)
            XCTAssertEqual(line, 3)
            XCTAssertEqual(index, 7)
            XCTAssertTrue("\(error)".contains("row index 7"), "\(error)")
        }
    }

    func testMissingAndUnknownPredictions() throws {
        let dataset = try MultipleChoiceDataset.load(devURL)
        var predictions = try predictions("predictions.jsonl")
        predictions[1_000_003] = nil
        XCTAssertThrowsError(try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions)) { error in
            XCTAssertEqual(error as? EvalError, .missingPrediction(file: devURL.path, index: 1_000_003))
            XCTAssertTrue("\(error)".contains("1000003"), "\(error)")
        }
        predictions[1_000_003] = "A"
        predictions[42] = "A"
        XCTAssertThrowsError(try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: predictions)) { error in
            XCTAssertEqual(error as? EvalError, .unknownPrediction(file: devURL.path, index: 42))
        }
    }

    func testColumnAndIndexProblems() throws {
        let noQuestion = try write("index\tA\tanswer\tcategory\timage\n0\tx\tA\tc\t\(image)\n", "noq.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(noQuestion)) { error in
            guard case EvalError.missingColumn(noQuestion.path, "question", _) = error else {
                return XCTFail("\(error)")
            }
        }
        let badIndex = try write("index\tquestion\tA\tanswer\tcategory\timage\nzero\tq\tx\tA\tc\t\(image)\n", "bad.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(badIndex)) { error in
            XCTAssertEqual(
                error as? EvalError,
                .invalidValue(
                    file: badIndex.path, line: 2, column: "index", value: "zero",
                    problem: "expected a non-negative integer"))
        }
        let duplicate = try write(
            "index\tquestion\tA\tanswer\tcategory\timage\n"
                + "3\tq\tx\tA\tc\t\(image)\n3\tq\tx\tA\tc\t\(image)\n", "dup.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(duplicate)) { error in
            XCTAssertEqual(error as? EvalError, .duplicateIndex(file: duplicate.path, index: 3, firstLine: 2, line: 3))
        }
        let headerOnly = try write("index\tquestion\tA\tanswer\tcategory\timage\n", "empty.tsv")
        XCTAssertThrowsError(try MultipleChoiceDataset.load(headerOnly)) { error in
            XCTAssertEqual(error as? EvalError, .noRows(file: headerOnly.path))
        }
        // A NaN category is fine for prompting but cannot be scored.
        let noCategory = try write("index\tquestion\tA\tanswer\tcategory\timage\n0\tq\tx\tA\t\t\(image)\n", "nocat.tsv")
        let dataset = try MultipleChoiceDataset.load(noCategory)
        XCTAssertThrowsError(try MultipleChoiceScorer.evaluate(dataset: dataset, predictions: [0: "A"])) { error in
            guard case EvalError.invalidValue(_, 2, "category", nil, _) = error else { return XCTFail("\(error)") }
        }
        // Only circular copies: nothing to score.
        let onlyCopies = try write(
            "index\tquestion\tA\tanswer\tcategory\timage\n1000000\tq\tx\tA\tc\t\(image)\n",
            "copies.tsv")
        XCTAssertThrowsError(
            try MultipleChoiceScorer.evaluate(
                dataset: MultipleChoiceDataset.load(onlyCopies),
                predictions: [1_000_000: "A"])
        ) { error in
            XCTAssertEqual(error as? EvalError, .noMainQuestions(file: onlyCopies.path))
        }
    }
}
