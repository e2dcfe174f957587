import Foundation
import MGEval
import XCTest

/// Predictions files and scored rows that deserve a look are reported (counted, with indexes), never scored
/// silently: duplicate indexes and truncated lines are errors; letters outside the options, empty answers, answers
/// the row does not offer and blank options are warnings on the scores.
final class PredictionProblemsTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("mgeval-pred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func predictions(_ lines: [String]) throws -> URL {
        let url = folder.appendingPathComponent("p-\(UUID().uuidString).jsonl")
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        return url
    }

    func testDuplicateIndexesAreCountedAndListed() throws {
        let url = try predictions([
            #"{"index": 3, "prediction": "A"}"#, #"{"index": 1, "prediction": "B"}"#,
            #"{"index": 3, "prediction": "C"}"#, #"{"index": 1, "prediction": "B"}"#,
            #"{"index": 2, "prediction": "D"}"#
        ])
        XCTAssertThrowsError(try PredictionLog.readPredictions(url)) {
            XCTAssertEqual($0 as? EvalError, .duplicatePredictions(file: url.path, count: 2, indexes: [1, 3]))
        }
    }

    func testTruncatedAndMalformedLinesAreNamed() throws {
        let truncated = try predictions([#"{"index": 0, "prediction": "A"}"#, #"{"index": 1, "predic"#])
        XCTAssertThrowsError(try PredictionLog.readPredictions(truncated)) {
            XCTAssertEqual($0 as? EvalError, .truncatedLine(file: truncated.path, line: 2))
            XCTAssertTrue("\($0)".contains(":2: the line is truncated"), "\($0)")
        }
        let comma = try predictions([#"{"index": 0, "prediction": "A",}"#])
        XCTAssertThrowsError(try PredictionLog.readPredictions(comma)) {
            XCTAssertTrue("\($0)".contains(":1:31: not valid JSON (trailing comma"), "\($0)")
        }
    }

    func testQuestionableRowsAreWarnedAboutWithIndexes() throws {
        func option(_ letter: String, _ text: String) -> MultipleChoiceOption {
            MultipleChoiceOption(letter: letter, text: text)
        }
        func row(_ index: Int, _ options: [MultipleChoiceOption], answer: String) -> MultipleChoiceRow {
            MultipleChoiceRow(
                index: index, question: "q\(index)", hint: nil, options: options, answer: answer,
                category: "c", l2Category: nil, split: "dev", image: "", line: index + 2)
        }
        let abc = [option("A", "x"), option("B", "y"), option("C", "z")]
        let rows = [
            row(0, abc, answer: "A"), row(1, abc, answer: "B"), row(2, abc, answer: "D"),
            row(3, [option("A", "x"), option("B", "  ")], answer: "A"), row(4, abc, answer: "C")
        ]
        let dataset = MultipleChoiceDataset(
            url: URL(fileURLWithPath: "/x/mmbench.tsv"), rows: rows, split: "dev",
            hasL2Category: false)
        let scores = try MultipleChoiceScorer.evaluate(
            dataset: dataset,
            predictions: [
                0: "A", 1: "the answer is unclear", 2: "D", 3: "A", 4: "D. none"
            ])
        // Scored exactly as upstream scores them (row 2's "D" equals its answer although no option D exists).
        XCTAssertEqual(scores["Average"], 0.6)
        XCTAssertEqual(
            scores.warnings,
            [
                "1 predictions hold no option letter A–D and are scored wrong (index 1)",
                "2 predictions name letters that are not one of their row's options (index 2, 4)",
                "1 rows have an answer that is not among their options (they can never be right) (index 2)",
                "1 rows have an option whose text is blank (index 3)"
            ])
        // The warnings travel with the results JSON and come back.
        let decoded = try JSONDecoder().decode(MultipleChoiceScores.self, from: JSONEncoder().encode(scores))
        XCTAssertEqual(decoded.warnings, scores.warnings)
    }
}
