// MGEval — the LLaVA-style question files of the open-ended benchmarks (SPEC §6.2): JSON lines (TextVQA, GQA,
// VQAv2: `llava_*.jsonl`) or a JSON list (POPE's `coco_pope_*.json` is JSON lines too in practice), each record
// `{"question_id", "image", "text", …}`. The question text is used as stored, plus the benchmark's suffix.
import Foundation
import MGData
import MGJSON

/// One question of an open-ended benchmark.
public struct EvalQuestion: Equatable, Sendable {
    /// `question_id` as text (ints and strings both occur).
    public var id: String
    /// Image path relative to the benchmark's image folder.
    public var image: String
    public var text: String
    /// POPE's `label`, GQA's or VQA's answer where the file carries one; nil otherwise.
    public var label: String?
    /// The line (JSON lines) or record number (JSON list), 1-based, for messages.
    public var line: Int

    public init(id: String, image: String, text: String, label: String? = nil, line: Int = 0) {
        self.id = id
        self.image = image
        self.text = text
        self.label = label
        self.line = line
    }
}

/// Readers of the open-ended benchmarks' question files.
public enum EvalQuestions {
    /// Reads a JSON-lines file (one object per line) or a JSON list of objects. Field names: `question_id`
    /// (int or string), `image`, `text` (or `question`), optional `label`/`answer`.
    public static func load(_ url: URL) throws -> [EvalQuestion] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EvalError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        var objects: [(Int, Any)] = []
        let trimmed = data.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if trimmed == UInt8(ascii: "[") {
            if let syntax = JSONSyntax.firstError(in: data) {
                let position = syntax.position(in: data)
                throw EvalError.malformedLine(
                    file: url.path, line: position.line, column: position.column,
                    detail: syntax.message)
            }
            guard let list = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
                throw EvalError.invalidValue(
                    file: url.path, line: 1, column: "json", value: nil, problem: "not a JSON list")
            }
            objects = list.enumerated().map { ($0 + 1, $1) }
        } else {
            for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
            where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                let lineData = Data(line)
                if let syntax = JSONSyntax.firstError(in: lineData) {
                    if syntax.offset >= lineData.count { throw EvalError.truncatedLine(file: url.path, line: i + 1) }
                    throw EvalError.malformedLine(
                        file: url.path, line: i + 1,
                        column: syntax.position(in: lineData).column, detail: syntax.message)
                }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) else {
                    throw EvalError.invalidValue(
                        file: url.path, line: i + 1, column: "json", value: nil,
                        problem: "not a JSON object")
                }
                objects.append((i + 1, object))
            }
        }
        var seen = Set<String>()
        return try objects.map { line, any in
            func bad(_ column: String, _ problem: String) -> EvalError {
                .invalidValue(file: url.path, line: line, column: column, value: nil, problem: problem)
            }
            guard let object = any as? [String: Any] else { throw bad("json", "not a JSON object") }
            let id: String
            if let n = object["question_id"] as? Int {
                id = String(n)
            } else if let s = object["question_id"] as? String {
                id = s
            } else {
                throw bad("question_id", "missing, or not an int or string")
            }
            guard seen.insert(id).inserted else { throw bad("question_id", "duplicate id \(id)") }
            guard let image = object["image"] as? String, !image.isEmpty else { throw bad("image", "missing") }
            guard let text = (object["text"] ?? object["question"]) as? String else { throw bad("text", "missing") }
            let label = (object["label"] ?? object["answer"]) as? String
            return EvalQuestion(id: id, image: image, text: text, label: label, line: line)
        }
    }
}
