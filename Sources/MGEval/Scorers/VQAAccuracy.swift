// MGEval — TextVQA's VQA soft accuracy and the pairing of results with `TextVQA_0.5.1_val.json` (SPEC §6.2).
// Followed: PhoenixZ810/MG-LLaVA's vendored `xtuner/dataset/evaluation/textvqa_utils.py`
// (`TextVQAAccuracyEvaluator`) and `textvqa_dataset.py` (`prompt_processor`, `TextVQADataset.evaluate`), which
// match haotian-liu/LLaVA `llava/eval/m4c_evaluator.py` and `llava/eval/eval_textvqa.py`.
import Foundation

/// One scored question: the reply and the annotators' raw answers.
public struct VQAAccuracyEntry: Equatable, Sendable {
    public var questionID: String
    public var prediction: String
    /// The 10 annotator answers, unnormalised.
    public var groundTruth: [String]

    public init(questionID: String, prediction: String, groundTruth: [String]) {
        self.questionID = questionID
        self.prediction = prediction
        self.groundTruth = groundTruth
    }
}

/// The VQA soft accuracy of a set of answers.
public struct VQAAccuracyResult: Equatable, Codable, Sendable {
    /// Per entry, in input order: the soft score in [0, 1].
    public var perQuestion: [Double]
    /// The mean soft score, a fraction (upstream's `eval_pred_list`).
    public var accuracy: Double
    /// What `TextVQADataset.evaluate` returns as `acc`: `100. * accuracy`.
    public var percent: Double { 100.0 * accuracy }
}

/// The VQA soft accuracy of `TextVQAAccuracyEvaluator`. Answers (reply and references) go through
/// `EvalAIAnswerProcessor.normalize` first. A normalised reply `a` scores the mean, over the 10 ways of leaving
/// one annotator out, of min(1, (number of the other 9 answers equal to a) / 3); a reply that equals no reference
/// answer scores 0. With k of the 10 answers equal to a that is (k·min(1, (k−1)/3) + (10−k)·min(1, k/3)) / 10:
/// k = 1 → 0.3, k = 2 → 0.6, k = 3 → 0.9, k ≥ 4 → 1.
///
/// Sums are taken left to right in the references' order, as Python ≤ 3.11's `sum` does (MG-LLaVA ran on
/// CPython 3.10; 3.12's compensated `sum` could differ in the last bit of the overall mean).
public enum VQAAccuracy {
    public static let answersPerQuestion = 10

    /// `_compute_answer_scores`: the soft score of every distinct normalised reference answer. (Swift `String`
    /// keys merge canonically equivalent spellings, e.g. a precomposed and a decomposed "é", which Python keeps
    /// apart; `score(prediction:groundTruth:)` compares code points, as upstream.)
    public static func answerScores(_ rawAnswers: [String]) -> [String: Double] {
        var scores: [String: Double] = [:]
        for (answer, value) in scalarScores(rawAnswers) { scores[PyText.string(answer)] = value }
        return scores
    }

    /// The soft score of one reply (normalised here) against raw reference answers.
    public static func score(prediction: String, groundTruth: [String]) -> Double {
        scalarScores(groundTruth)[PyText.scalars(EvalAIAnswerProcessor.normalize(prediction))] ?? 0
    }

    /// Scores keyed by code points, so that answers compare as Python strings do.
    static func scalarScores(_ rawAnswers: [String]) -> [PyText.Scalars: Double] {
        let answers = rawAnswers.map { PyText.scalars(EvalAIAnswerProcessor.normalize($0)) }
        var scores: [PyText.Scalars: Double] = [:]
        for candidate in Set(answers) {
            var sum = 0.0
            for left in answers.indices {
                var matching = 0
                for other in answers.indices where other != left && answers[other] == candidate { matching += 1 }
                sum += min(1, Double(matching) / 3)
            }
            scores[candidate] = sum / Double(answers.count)
        }
        return scores
    }

    /// `eval_pred_list`. Throws on an empty list or a question without exactly 10 references (upstream asserts).
    public static func evaluate(
        _ entries: [VQAAccuracyEntry],
        benchmark: String = "TextVQA"
    ) throws -> VQAAccuracyResult {
        guard !entries.isEmpty else { throw ScorerError.emptyInput(benchmark: benchmark, detail: "no questions") }
        var perQuestion: [Double] = []
        perQuestion.reserveCapacity(entries.count)
        var sum = 0.0
        for entry in entries {
            guard entry.groundTruth.count == answersPerQuestion else {
                throw ScorerError.wrongAnswerCount(
                    benchmark: benchmark, questionID: entry.questionID,
                    count: entry.groundTruth.count, expected: answersPerQuestion)
            }
            let value = score(prediction: entry.prediction, groundTruth: entry.groundTruth)
            perQuestion.append(value)
            sum += value
        }
        return VQAAccuracyResult(perQuestion: perQuestion, accuracy: sum / Double(entries.count))
    }
}

/// One question of `TextVQA_0.5.1_val.json` (`data` list): only what scoring needs.
public struct TextVQAAnnotation: Equatable, Sendable {
    public var imageID: String
    public var question: String
    public var answers: [String]

    public init(imageID: String, question: String, answers: [String]) {
        self.imageID = imageID
        self.question = question
        self.answers = answers
    }
}

/// How `TextVQADataset.evaluate` finds a result's references: annotations are keyed by (`image_id`, lower-cased
/// `question`), and a result by (its `question_id` — LLaVA's TextVQA file stores the image id there — and the
/// question taken back out of its prompt by `prompt_processor`). A later annotation with the same key replaces an
/// earlier one, as in upstream's dict comprehension.
public enum TextVQAMatching {
    /// Reads `{"data": [{"image_id", "question", "answers", …}, …]}`.
    public static func parseAnnotations(_ data: Data) throws -> [TextVQAAnnotation] {
        func bad(_ detail: String) -> ScorerError { .invalidFile(benchmark: "TextVQA", detail: detail) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let list = root["data"] as? [Any]
        else {
            throw bad("annotation file is not a JSON object with a 'data' list")
        }
        return try list.enumerated().map { position, any in
            guard let object = any as? [String: Any] else { throw bad("data[\(position)] is not an object") }
            let imageID: String
            if let text = object["image_id"] as? String {
                imageID = text
            } else if let number = object["image_id"] as? Int {
                imageID = String(number)
            } else {
                throw bad("data[\(position)] has no string 'image_id'")
            }
            guard let question = object["question"] as? String else { throw bad("data[\(position)] has no 'question'") }
            guard let answers = object["answers"] as? [String] else {
                throw bad("data[\(position)] has no list of string 'answers'")
            }
            return TextVQAAnnotation(imageID: imageID, question: question, answers: answers)
        }
    }

    /// `prompt_processor`, lower-cased result; nil where upstream fails (no match, or `assert False`):
    /// - a prompt starting "OCR tokens: " → the text between the first "Question: " and the next " Short answer:";
    /// - a prompt containing "Reference OCR token: " that has exactly 3 '\n'-separated lines → line 2 when it
    ///   starts with "Reference OCR token:", else line 1;
    /// - otherwise a prompt of exactly 2 lines → line 1 (MG-LLaVA's file: "question\nAnswer the question using a
    ///   single word or phrase.").
    public static func question(fromPrompt prompt: String) -> String? {
        let text = PyText.scalars(prompt)
        let lines = PyText.split(text, separator: "\n")
        let question: PyText.Scalars
        if PyText.hasPrefix(text, PyText.scalars("OCR tokens: ")) {
            let open = PyText.scalars("Question: "), close = PyText.scalars(" Short answer:")
            guard let start = PyText.firstMatch(text, open, from: 0),
                let end = PyText.firstMatch(text, close, from: start + open.count)
            else { return nil }
            question = Array(text[(start + open.count)..<end])
        } else if PyText.contains(text, PyText.scalars("Reference OCR token: ")) && lines.count == 3 {
            question = PyText.hasPrefix(text, PyText.scalars("Reference OCR token:")) ? lines[1] : lines[0]
        } else if lines.count == 2 {
            question = lines[0]
        } else {
            return nil
        }
        return PyText.lower(PyText.string(question))
    }

    /// Pairs results (`question_id`, the prompt as written to the results file, the reply) with their references,
    /// in result order.
    public static func entries(
        results: [(questionID: String, prompt: String, prediction: String)],
        annotations: [TextVQAAnnotation]
    ) throws -> [VQAAccuracyEntry] {
        var byKey: [PyText.Scalars: TextVQAAnnotation] = [:]
        for annotation in annotations { byKey[key(annotation.imageID, PyText.lower(annotation.question))] = annotation }
        return try results.map { result in
            guard let question = question(fromPrompt: result.prompt) else {
                throw ScorerError.unrecognizedPrompt(
                    benchmark: "TextVQA", questionID: result.questionID,
                    prompt: result.prompt)
            }
            guard let annotation = byKey[key(result.questionID, question)] else {
                throw ScorerError.missingAnnotation(
                    benchmark: "TextVQA", questionID: result.questionID,
                    key: "image '\(result.questionID)', question '\(question)'")
            }
            return VQAAccuracyEntry(
                questionID: result.questionID, prediction: result.prediction,
                groundTruth: annotation.answers)
        }
    }

    /// The (image id, question) pair as one code-point key (compared as Python compares strings).
    private static func key(_ imageID: String, _ question: String) -> PyText.Scalars {
        PyText.scalars(imageID) + ["\u{0}"] + PyText.scalars(question)
    }
}
