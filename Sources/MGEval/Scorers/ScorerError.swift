// MGEval — errors of the model-free benchmark scorers (POPE, MME, TextVQA, GQA, VQAv2). Upstream mostly stops on
// these with an assert, KeyError or ZeroDivisionError; here each names the benchmark and the question (or image,
// or split) so that a bad file among thousands of questions can be found.

/// Why a benchmark cannot be scored, naming the benchmark and the question, image or split at fault.
public enum ScorerError: Error, Equatable, CustomStringConvertible {
    /// The scorer was given nothing to score (upstream divides by zero). `detail` says what was empty.
    case emptyInput(benchmark: String, detail: String)
    /// A question that must be scored has no prediction.
    case missingPrediction(benchmark: String, questionID: String)
    /// A label or reference answer outside the benchmark's vocabulary (POPE: 'yes'/'no'; MME: 'Yes'/'No').
    case unknownLabel(benchmark: String, questionID: String, label: String, expected: [String])
    /// Two questions share an id where predictions are keyed by it.
    case duplicateQuestion(benchmark: String, questionID: String)
    /// TextVQA needs exactly 10 reference answers per question (upstream asserts it).
    case wrongAnswerCount(benchmark: String, questionID: String, count: Int, expected: Int)
    /// A TextVQA prompt that upstream's `prompt_processor` cannot take the question out of.
    case unrecognizedPrompt(benchmark: String, questionID: String, prompt: String)
    /// No annotation for a result (TextVQA: keyed by image id and lower-cased question).
    case missingAnnotation(benchmark: String, questionID: String, key: String)
    /// MME's accuracy+ pairs the first two questions of an image; this image has fewer.
    case unpairedImage(benchmark: String, category: String, image: String, questionIDs: [String])
    /// A question id that must be an integer is not (VQAv2's upload wants integer ids).
    case invalidQuestionID(benchmark: String, questionID: String)
    /// An annotation or question file that does not have the expected JSON shape.
    case invalidFile(benchmark: String, detail: String)

    public var description: String {
        switch self {
        case .emptyInput(let benchmark, let detail):
            return "\(benchmark): nothing to score (\(detail))"
        case .missingPrediction(let benchmark, let id):
            return "\(benchmark): no prediction for question \(id)"
        case .unknownLabel(let benchmark, let id, let label, let expected):
            return "\(benchmark): question \(id) has label '\(label)', expected one of "
                + expected.map { "'\($0)'" }.joined(separator: ", ")
        case .duplicateQuestion(let benchmark, let id):
            return "\(benchmark): question id \(id) occurs more than once"
        case .wrongAnswerCount(let benchmark, let id, let count, let expected):
            return "\(benchmark): question \(id) has \(count) reference answers, expected \(expected)"
        case .unrecognizedPrompt(let benchmark, let id, let prompt):
            let shown = prompt.count > 80 ? String(prompt.prefix(80)) + "…" : prompt
            return "\(benchmark): question \(id): cannot find the question in the prompt '\(shown)'"
        case .missingAnnotation(let benchmark, let id, let key):
            return "\(benchmark): question \(id): no annotation for \(key)"
        case .unpairedImage(let benchmark, let category, let image, let ids):
            return "\(benchmark): category '\(category)', image '\(image)' has \(ids.count) question(s) "
                + "(\(ids.joined(separator: ", "))); accuracy+ needs two"
        case .invalidQuestionID(let benchmark, let id):
            return "\(benchmark): question id '\(id)' is not an integer"
        case .invalidFile(let benchmark, let detail):
            return "\(benchmark): \(detail)"
        }
    }
}
