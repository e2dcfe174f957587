import Foundation
import MGEval
import XCTest

/// LLaVA-eval question files: JSON lines or a JSON list, int or string ids, and errors that name file and line.
final class EvalQuestionsTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgeval-q-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ text: String, _ name: String = "q.jsonl") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testJSONLinesAndList() throws {
        let lines = try EvalQuestions.load(
            try write(
                """
                {"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}

                {"question_id": "n2", "image": "b.jpg", "text": "What is it?\\nAnswer the question using a single word or phrase."}
                """))
        XCTAssertEqual(lines.map(\.id), ["1", "n2"])
        XCTAssertEqual(lines[0].label, "yes")
        XCTAssertNil(lines[1].label)
        XCTAssertEqual(lines[1].line, 3)
        XCTAssertTrue(lines[1].text.hasSuffix("single word or phrase."))
        let list = try EvalQuestions.load(
            try write(
                """
                [{"question_id": 7, "image": "c.jpg", "question": "Q?", "answer": "no"}]
                """, "list.json"))
        XCTAssertEqual(list, [EvalQuestion(id: "7", image: "c.jpg", text: "Q?", label: "no", line: 1)])
    }

    func testErrorsNameFileAndLine() throws {
        let cases: [(String, String)] = [
            ("{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"x\"}\n{broken", "q.jsonl:2"),
            ("{\"question_id\": 1, \"text\": \"x\"}", "image"),
            ("{\"question_id\": 1.5, \"image\": \"a\", \"text\": \"x\"}", "question_id"),
            (
                "{\"question_id\": 1, \"image\": \"a\", \"text\": \"x\"}\n{\"question_id\": 1, \"image\": \"b\", \"text\": \"y\"}",
                "duplicate id 1"
            )
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try EvalQuestions.load(try write(text))) {
                XCTAssertTrue("\($0)".contains(expected), "\($0) should mention \(expected)")
            }
        }
        XCTAssertThrowsError(try EvalQuestions.load(dir.appendingPathComponent("missing.jsonl"))) {
            XCTAssertTrue("\($0)".contains("missing.jsonl"), "\($0)")
        }
    }
}
