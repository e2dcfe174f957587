// MGEval — GQA testdev-balanced scoring (SPEC §6.2). Followed: PhoenixZ810/MG-LLaVA
// `mg_llava/evaluation/gqa_llava_eval_dataset.py` (`GQADataset.evaluate`: how predictions are written) and
// `mg_llava/evaluation/eval_gqa.py` (`eval_gqa`, the official GQA script with validity, plausibility, grounding and
// consistency commented out or switched off). Reproduced: accuracy, binary/open accuracy, the distribution
// (chi-square) score and the accuracy per structural type, semantic type, steps and words. Not reproduced:
// consistency (off in MG-LLaVA, needs the entailment graph), validity and plausibility (commented out upstream, need
// the choices file) and grounding (needs attention maps).
import Foundation

/// One reasoning step of a GQA question's `semantic` program.
public struct GQAOperation: Equatable, Sendable {
    public var operation: String
    public var argument: String

    public init(operation: String, argument: String) {
        self.operation = operation
        self.argument = argument
    }
}

/// One question of `testdev_balanced_questions.json`: only the fields the score uses.
public struct GQAQuestion: Equatable, Sendable {
    public var id: String
    public var question: String
    public var answer: String
    public var isBalanced: Bool
    /// `types.structural` ("query" questions are "open", every other type is "binary").
    public var structuralType: String
    /// `types.semantic` ("attr", "cat", "global", "obj", "rel").
    public var semanticType: String
    public var semantic: [GQAOperation]
    /// `groups.global`; nil for JSON null (such questions stay out of the distribution score).
    public var globalGroup: String?

    public init(
        id: String, question: String, answer: String, isBalanced: Bool = true, structuralType: String,
        semanticType: String, semantic: [GQAOperation] = [], globalGroup: String? = nil
    ) {
        self.id = id
        self.question = question
        self.answer = answer
        self.isBalanced = isBalanced
        self.structuralType = structuralType
        self.semanticType = semanticType
        self.semantic = semantic
        self.globalGroup = globalGroup
    }
}

/// Accuracy of one group of questions (a type, a step count, a word count), in percent as upstream prints it.
public struct GQAGroupScore: Equatable, Codable, Sendable {
    public var name: String
    public var accuracy: Double
    public var count: Int

    public init(name: String, accuracy: Double, count: Int) {
        self.name = name
        self.accuracy = accuracy
        self.count = count
    }
}

/// What `eval_gqa.forward` prints. Accuracies are percentages (upstream multiplies by 100 before printing; it
/// returns nothing).
public struct GQAScores: Equatable, Codable, Sendable {
    /// Balanced questions scored.
    public var count: Int
    public var accuracy: Double
    /// Questions whose structural type is not "query".
    public var binary: Double
    /// Questions whose structural type is "query".
    public var open: Double
    /// Chi-square distance between gold and predicted answer histograms per global group, / 100 (lower is
    /// better). nil when no scored question has a global group (ZeroDivisionError upstream).
    public var distribution: Double?
    /// Sorted by name (code point order, as Python's `sorted`).
    public var perStructuralType: [GQAGroupScore]
    public var perSemanticType: [GQAGroupScore]
    /// Sorted by the number of steps.
    public var perSteps: [GQAGroupScore]
    /// Sorted by the number of words.
    public var perLength: [GQAGroupScore]
}

/// GQA scoring as MG-LLaVA's `eval_gqa` computes it.
public enum GQAScorer {
    /// The prediction as MG-LLaVA writes it to `testdev_balanced_predictions.json`: `text.rstrip('.').lower()`.
    /// Only trailing periods go (not spaces, and not a period before a trailing space), and the case is lowered
    /// after stripping: "Yes." → "yes", "Left.." → "left", "No. " → "no. ", "U.S." → "u.s".
    public static func normalizePrediction(_ text: String) -> String {
        var scalars = PyText.scalars(text)
        while scalars.last == "." { scalars.removeLast() }
        return PyText.lower(PyText.string(scalars))
    }

    /// The predictions dictionary the scorer reads (`{questionId: prediction}`), from the results in file order;
    /// a later result for the same id replaces an earlier one, as upstream's dict comprehension.
    public static func predictions(_ results: [(questionID: String, text: String)]) -> [String: String] {
        var predictions: [String: String] = [:]
        for result in results { predictions[result.questionID] = normalizePrediction(result.text) }
        return predictions
    }

    /// Reads a GQA questions file (`{questionId: {question, answer, isBalanced, types, semantic, groups, …}}`).
    /// Questions come back sorted by id: Foundation's JSON reader does not keep key order, and upstream's file
    /// order matters only to the summation order of the distribution score (its last bits).
    public static func parseQuestions(_ data: Data) throws -> [GQAQuestion] {
        func bad(_ detail: String) -> ScorerError { .invalidFile(benchmark: "GQA", detail: detail) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("questions file is not a JSON object keyed by question id")
        }
        let ids = root.keys.sorted(by: PyText.codePointLess)
        return try ids.map { id in
            guard let object = root[id] as? [String: Any] else { throw bad("question \(id) is not an object") }
            let isBalanced = (object["isBalanced"] as? Bool) ?? false
            // Unbalanced questions are never scored (consistency is off), so their fields are not required.
            func field(_ value: Any?, _ name: String) throws -> String {
                if let text = value as? String { return text }
                if !isBalanced { return "" }
                throw bad("question \(id) has no string '\(name)'")
            }
            let types = object["types"] as? [String: Any]
            let groups = object["groups"] as? [String: Any]
            let semantic = (object["semantic"] as? [[String: Any]]) ?? []
            if isBalanced && object["semantic"] as? [[String: Any]] == nil {
                throw bad("question \(id) has no 'semantic' list")
            }
            return GQAQuestion(
                id: id, question: try field(object["question"], "question"),
                answer: try field(object["answer"], "answer"),
                isBalanced: isBalanced, structuralType: try field(types?["structural"], "types.structural"),
                semanticType: try field(types?["semantic"], "types.semantic"),
                semantic: try semantic.map { step in
                    GQAOperation(
                        operation: try field(step["operation"], "semantic.operation"),
                        argument: try field(step["argument"], "semantic.argument"))
                },
                globalGroup: groups?["global"] as? String)
        }
    }

    /// `getWordsNum`: the number of whitespace-separated words of the question.
    public static func wordCount(_ question: GQAQuestion) -> Int {
        PyText.split(PyText.scalars(question.question)).count
    }

    /// `getStepsNum`: the program's steps, less those whose "operation: argument" contains "exist", "query: name"
    /// or "choose name" (the final querying step adds no reasoning).
    public static func stepCount(_ question: GQAQuestion) -> Int {
        let skipped = ["exist", "query: name", "choose name"].map(PyText.scalars)
        return question.semantic.filter { step in
            let text = PyText.scalars(step.operation + ": " + step.argument)
            return !skipped.contains { PyText.contains(text, $0) }
        }.count
    }

    /// `eval_gqa.forward` over the balanced questions, in the given order. `predictions` holds the normalised
    /// predictions (`normalizePrediction`), compared with the gold answer by exact string equality.
    ///
    /// Upstream stops when a balanced question has no prediction; so does this with `requireAllPredictions`
    /// (the default). With it off, balanced questions without a prediction are left out (for partial runs).
    public static func evaluate(
        questions: [GQAQuestion], predictions: [String: String],
        requireAllPredictions: Bool = true
    ) throws -> GQAScores {
        var accuracy: [Double] = [], binary: [Double] = [], open: [Double] = []
        var structural: [String: [Double]] = [:], semantic: [String: [Double]] = [:]
        var steps: [Int: [Double]] = [:], length: [Int: [Double]] = [:]
        // Histograms per global group, in first-appearance order (Python dicts keep insertion order).
        var groupOrder: [String] = []
        var goldOrder: [String: [PyText.Scalars]] = [:]
        var gold: [String: [PyText.Scalars: Int]] = [:]
        var predicted: [String: [PyText.Scalars: Int]] = [:]

        for question in questions where question.isBalanced {
            guard let prediction = predictions[question.id] else {
                if requireAllPredictions {
                    throw ScorerError.missingPrediction(benchmark: "GQA", questionID: question.id)
                }
                continue
            }
            let goldAnswer = PyText.scalars(question.answer), predictedAnswer = PyText.scalars(prediction)
            let score: Double = goldAnswer == predictedAnswer ? 1 : 0
            accuracy.append(score)
            length[wordCount(question), default: []].append(score)
            steps[stepCount(question), default: []].append(score)
            structural[question.structuralType, default: []].append(score)
            semantic[question.semanticType, default: []].append(score)
            if question.structuralType == "query" { open.append(score) } else { binary.append(score) }
            if let group = question.globalGroup {
                if gold[group] == nil { groupOrder.append(group); gold[group] = [:]; predicted[group] = [:] }
                if gold[group]?[goldAnswer] == nil { goldOrder[group, default: []].append(goldAnswer) }
                gold[group]?[goldAnswer, default: 0] += 1
                predicted[group]?[predictedAnswer, default: 0] += 1
            }
        }
        guard !accuracy.isEmpty else {
            throw ScorerError.emptyInput(benchmark: "GQA", detail: "no balanced question with a prediction")
        }

        // chiSquare(gold, predicted) / 100.
        var sumScore = 0.0, sumOverall = 0
        for group in groupOrder {
            var score = 0.0, overall = 0
            for answer in goldOrder[group] ?? [] {
                let e = gold[group]?[answer] ?? 0
                let o = predicted[group]?[answer] ?? 0
                let difference = Double(o - e)
                score += difference * difference / Double(e)
                overall += e
            }
            sumScore += score * Double(overall)
            sumOverall += overall
        }
        let distribution = sumOverall > 0 ? sumScore / Double(sumOverall) / 100 : nil

        func breakdown<Key>(
            _ groups: [Key: [Double]], _ name: (Key) -> String,
            _ less: (Key, Key) -> Bool
        ) -> [GQAGroupScore] {
            groups.keys.sorted(by: less).map { key in
                let values = groups[key] ?? []
                return GQAGroupScore(name: name(key), accuracy: average(values) * 100, count: values.count)
            }
        }
        return GQAScores(
            count: accuracy.count, accuracy: average(accuracy) * 100, binary: average(binary) * 100,
            open: average(open) * 100, distribution: distribution,
            perStructuralType: breakdown(structural, { $0 }, PyText.codePointLess),
            perSemanticType: breakdown(semantic, { $0 }, PyText.codePointLess),
            perSteps: breakdown(steps, { String($0) }, <),
            perLength: breakdown(length, { String($0) }, <))
    }

    /// `avg`: 0 for an empty list, else the sum (exact for 0/1 scores) over the count.
    private static func average(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
}
