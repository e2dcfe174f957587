// MGEval — the VQAv2 test-dev upload file (SPEC §6.2; no local score, the EvalAI server scores it). Followed:
// PhoenixZ810/MG-LLaVA `mg_llava/evaluation/vqav2_llava_eval_dataset.py` (`VQAv2Dataset.evaluate`), which matches
// haotian-liu/LLaVA `scripts/convert_vqav2_for_submission.py`.
import Foundation

/// `vqav2_testdev_balanced_predictions.json`: one entry per question of the *full* test split file
/// (`llava_vqav2_mscoco_test2015.jsonl`), in that file's order, although only test-dev is answered. A question
/// with a reply gets the reply through `EvalAIAnswerProcessor.normalize`; one without gets "" (the server wants
/// every test id). Replies to ids that are not in the split are dropped silently, as upstream; with several
/// replies to one id the last wins (upstream builds a dict from the answers file).
public struct VQAv2Submission: Equatable, Sendable {
    /// One line of the upload: a test question id and its normalised answer.
    public struct Entry: Equatable, Sendable {
        public var questionID: Int
        public var answer: String

        public init(questionID: Int, answer: String) {
            self.questionID = questionID
            self.answer = answer
        }
    }

    /// In the split file's order (duplicated split ids stay duplicated, as upstream).
    public var entries: [Entry]
    /// Split ids without a reply (their answer is ""), in split order.
    public var unanswered: [Int]
    /// Reply ids that are not in the split, sorted.
    public var unused: [Int]

    /// Builds the entries. `testQuestionIDs`: the split file's `question_id`s in order; `predictions`: the replies
    /// (raw model text) by question id.
    public init(testQuestionIDs: [Int], predictions: [Int: String]) throws {
        guard !testQuestionIDs.isEmpty else {
            throw ScorerError.emptyInput(benchmark: "VQAv2", detail: "the test split lists no question ids")
        }
        var entries: [Entry] = []
        var unanswered: [Int] = []
        entries.reserveCapacity(testQuestionIDs.count)
        for id in testQuestionIDs {
            if let reply = predictions[id] {
                entries.append(Entry(questionID: id, answer: EvalAIAnswerProcessor.normalize(reply)))
            } else {
                entries.append(Entry(questionID: id, answer: ""))
                unanswered.append(id)
            }
        }
        let split = Set(testQuestionIDs)
        self.entries = entries
        self.unanswered = unanswered
        self.unused = predictions.keys.filter { !split.contains($0) }.sorted()
    }

    /// The same from string ids (as `EvalQuestion.id` holds them); each must be an integer, as in the VQAv2
    /// files. Replies are matched by the integer value.
    public init(testQuestionIDs: [String], predictions: [String: String]) throws {
        func integer(_ id: String) throws -> Int {
            guard let value = Int(id) else { throw ScorerError.invalidQuestionID(benchmark: "VQAv2", questionID: id) }
            return value
        }
        var replies: [Int: String] = [:]
        for (id, reply) in predictions { replies[try integer(id)] = reply }
        try self.init(testQuestionIDs: testQuestionIDs.map(integer), predictions: replies)
    }

    /// The file's bytes exactly as Python's `json.dump(all_answers, f)` writes them: `[{"question_id": 1,
    /// "answer": "yes"}, …]` with ", " and ": " separators, keys in that order, no trailing newline, and
    /// `ensure_ascii` escaping (non-ASCII as \uXXXX, astral code points as surrogate pairs).
    public var jsonData: Data {
        var text = "["
        for (position, entry) in entries.enumerated() {
            if position > 0 { text += ", " }
            text += "{\"question_id\": \(entry.questionID), \"answer\": " + PythonJSON.string(entry.answer) + "}"
        }
        text += "]"
        return Data(text.utf8)
    }
}

/// Python's `json` string encoding with `ensure_ascii=True` (the default).
enum PythonJSON {
    static func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value >= 0x20 && scalar.value <= 0x7E {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                } else {
                    out += hex4(scalar.value)
                }
            }
        }
        return out + "\""
    }

    /// `\u` and four lower-case hex digits, as Python writes them.
    private static func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
