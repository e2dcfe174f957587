import Foundation
import MGEval
import MGTestSupport
import XCTest

/// The scorers against MG-LLaVA's own scoring code run on generated prediction sets (Tests/Fixtures/eval/
/// scorers.json, from scripts/fixtures/eval/make_scorer_references.py): POPE's per-file F1 and mean, MME's
/// extraction, per-category scores and the perception/reasoning totals, TextVQA's soft accuracy per question and
/// overall, and the EvalAI normalisation (TextVQA, and the VQAv2 upload) on awkward strings.
final class UpstreamScorerParityTests: XCTestCase {
    private var fixture: [String: Any] = [:]

    override func setUpWithError() throws {
        fixture = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("eval/scorers.json")))
                as? [String: Any])
    }

    private func section(_ name: String) throws -> [String: Any] {
        try XCTUnwrap(fixture[name] as? [String: Any], name)
    }

    func testPOPEMatchesUpstream() throws {
        let pope = try section("pope")
        let rows = try XCTUnwrap(pope["samples"] as? [[String: String]])
        XCTAssertEqual(rows.count, 120)
        let samples = try rows.map { row in
            POPESample(
                questionID: try XCTUnwrap(row["question_id"]), split: try XCTUnwrap(row["split"]),
                label: try XCTUnwrap(row["label"]), prediction: try XCTUnwrap(row["prediction"]))
        }
        let scores = try POPEScorer.evaluate(samples)
        let f1 = try XCTUnwrap(pope["f1"] as? [String: Double])
        XCTAssertEqual(f1.count, 3)
        for (split, expected) in f1 {
            XCTAssertEqual(try XCTUnwrap(scores[split]?.f1, split), expected, accuracy: 1e-12, split)
        }
        XCTAssertEqual(try XCTUnwrap(scores.score), try XCTUnwrap(pope["score"] as? Double), accuracy: 1e-12)
    }

    func testMMEMatchesUpstream() throws {
        let mme = try section("mme")
        let rows = try XCTUnwrap(mme["samples"] as? [[String: Any]])
        let samples = try rows.map { row in
            MMESample(
                index: try XCTUnwrap(row["index"] as? Int), category: try XCTUnwrap(row["category"] as? String),
                imagePath: try XCTUnwrap(row["image_path"] as? String), answer: try XCTUnwrap(row["answer"] as? String),
                prediction: try XCTUnwrap(row["prediction"] as? String))
        }
        let scores = try MMEScorer.evaluate(samples)
        let extracted = try XCTUnwrap(mme["extracted"] as? [String: String])
        XCTAssertEqual(extracted.count, samples.count)
        for (index, answer) in extracted {
            XCTAssertEqual(scores.extracted[try XCTUnwrap(Int(index))]?.rawValue, answer, "index \(index)")
        }
        let rating = try XCTUnwrap(mme["rating"] as? [String: Double])
        XCTAssertEqual(try XCTUnwrap(scores.perception), try XCTUnwrap(rating["perception"]), accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(scores.reasoning), try XCTUnwrap(rating["reasoning"]), accuracy: 1e-9)
        for category in MMEScorer.perceptionCategories + MMEScorer.reasoningCategories {
            XCTAssertEqual(
                try XCTUnwrap(scores[category]?.score, category), try XCTUnwrap(rating[category], category),
                accuracy: 1e-9, category)
        }
    }

    func testTextVQAAccuracyAndEvalAINormalisationMatchUpstream() throws {
        let textvqa = try section("textvqa")
        let rows = try XCTUnwrap(textvqa["entries"] as? [[String: Any]])
        let entries = try rows.map { row in
            VQAAccuracyEntry(
                questionID: try XCTUnwrap(row["question_id"] as? String),
                prediction: try XCTUnwrap(row["pred_answer"] as? String),
                groundTruth: try XCTUnwrap(row["gt_answers"] as? [String]))
        }
        let result = try VQAAccuracy.evaluate(entries)
        let perQuestion = try XCTUnwrap(textvqa["per_question"] as? [Double])
        XCTAssertEqual(result.perQuestion.count, perQuestion.count)
        for (i, (ours, theirs)) in zip(result.perQuestion, perQuestion).enumerated() {
            XCTAssertEqual(ours, theirs, accuracy: 1e-15, "question \(i): \(rows[i])")
        }
        XCTAssertEqual(result.accuracy, try XCTUnwrap(textvqa["accuracy"] as? Double), accuracy: 1e-15)
        XCTAssertGreaterThan(perQuestion.filter { $0 > 0 && $0 < 1 }.count, 5, "the set exercises partial credit")

        let pairs = try XCTUnwrap(fixture["evalai_normalized"] as? [[String]])
        XCTAssertGreaterThan(pairs.count, 50)
        for pair in pairs {
            XCTAssertEqual(
                Array(EvalAIAnswerProcessor.normalize(pair[0]).utf8), Array(pair[1].utf8), "\(pair[0].debugDescription)"
            )
        }
    }

    /// GQA: upstream's `eval_gqa.forward()` only logs its numbers (two decimals), so the comparison is of those
    /// lines: binary, open, overall accuracy, the distribution score, and accuracy per structural type, semantic
    /// type, steps and words (validity and plausibility are commented out upstream and always log 0.00 %).
    func testGQAMatchesUpstreamLog() throws {
        let gqa = try section("gqa")
        let questions = try GQAScorer.parseQuestions(
            JSONSerialization.data(withJSONObject: try XCTUnwrap(gqa["questions"])))
        let results = try XCTUnwrap(gqa["results"] as? [[String: String]]).map {
            ($0["question_id"] ?? "", $0["text"] ?? "")
        }
        let scores = try GQAScorer.evaluate(questions: questions, predictions: GQAScorer.predictions(results))
        func percent(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines = [
            "Binary: \(percent(scores.binary))%", "Open: \(percent(scores.open))%",
            "Accuracy: \(percent(scores.accuracy))%"
        ]
        lines.append("Distribution: \(percent(try XCTUnwrap(scores.distribution))) (lower is better)")
        for group in [scores.perStructuralType, scores.perSemanticType, scores.perSteps, scores.perLength] {
            lines += group.map { "  \($0.name): \(percent($0.accuracy))% (\($0.count) questions)" }
        }
        let upstream = try XCTUnwrap(gqa["log"] as? [String]).filter {
            !$0.hasPrefix("Validity") && !$0.hasPrefix("Plausibility")
        }
        XCTAssertGreaterThan(upstream.count, 20)
        XCTAssertEqual(lines, upstream)
    }

    /// VQAv2: the upload file upstream's `VQAv2Dataset.evaluate` writes (whole test split in its order, duplicates
    /// kept, "" without a reply, replies normalised, `ensure_ascii` JSON), byte for byte.
    func testVQAv2UploadMatchesUpstreamBytes() throws {
        let vqav2 = try section("vqav2")
        let ids = try XCTUnwrap(vqav2["test_question_ids"] as? [Int])
        let replies = try XCTUnwrap(vqav2["predictions"] as? [String: String])
        var predictions: [Int: String] = [:]
        for (id, reply) in replies { predictions[try XCTUnwrap(Int(id))] = reply }
        let submission = try VQAv2Submission(testQuestionIDs: ids, predictions: predictions)
        let upload = try XCTUnwrap(vqav2["upload"] as? String)
        XCTAssertEqual(String(decoding: submission.jsonData, as: UTF8.self), upload)
        XCTAssertEqual(submission.unused, [5000, 5001])
        XCTAssertFalse(submission.unanswered.isEmpty)
    }
}
