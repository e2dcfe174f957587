// MGEval — MME scoring (SPEC §6.2). Followed: PhoenixZ810/MG-LLaVA's vendored
// `xtuner/dataset/evaluation/mme_dataset.py` (`MMEDataset.evaluate`) and `utils.py` (`YOrN_Extraction`,
// `MME_rating`), which follow open-compass/VLMEvalKit's MME rating. Not the official MME `eval_tool` answer parser
// (that one looks at the first four characters of the reply); the numbers are upstream's.

/// One MME question (a row of the VLMEvalKit `MME.tsv`) with the model's reply.
public struct MMESample: Equatable, Sendable {
    /// The TSV `index`; rows are scored in index order.
    public var index: Int
    /// e.g. "existence", "OCR", "code_reasoning".
    public var category: String
    /// The `image_path` column: the two questions about one image share it (accuracy+ pairs them).
    public var imagePath: String
    /// The `answer` column: "Yes" or "No".
    public var answer: String
    /// The reply; nil when the question was never answered.
    public var prediction: String?

    public init(index: Int, category: String, imagePath: String, answer: String, prediction: String?) {
        self.index = index
        self.category = category
        self.imagePath = imagePath
        self.answer = answer
        self.prediction = prediction
    }
}

/// One category's numbers, in percent as upstream computes them.
public struct MMECategoryScore: Equatable, Codable, Sendable {
    public var category: String
    /// Questions answered right / questions × 100.
    public var accuracy: Double
    /// Images whose first two questions are both right / images × 100.
    public var accuracyPlus: Double
    /// accuracy + accuracy+ (0–200): MME's per-category score.
    public var score: Double
    public var questions: Int
    public var images: Int

    public init(category: String, accuracy: Double, accuracyPlus: Double, score: Double, questions: Int, images: Int) {
        self.category = category
        self.accuracy = accuracy
        self.accuracyPlus = accuracyPlus
        self.score = score
        self.questions = questions
        self.images = images
    }
}

/// `MME_rating`'s result: the two totals, then every category in order of first appearance by index.
public struct MMEScores: Equatable, Codable, Sendable {
    /// Sum of the perception categories' scores (0–2000); nil when one of them has no question here (upstream
    /// stops with KeyError, since it indexes every listed category).
    public var perception: Double?
    /// Sum of the cognition categories' scores (0–800; upstream calls the total "reasoning"); nil likewise.
    public var reasoning: Double?
    public var categories: [MMECategoryScore]
    /// Per question, in index order: what was extracted from the reply.
    public var extracted: [Int: YesNoAnswer]

    public subscript(category: String) -> MMECategoryScore? { categories.first { $0.category == category } }
}

/// MME scoring as MG-LLaVA's `MMEDataset.evaluate` and `MME_rating` compute it.
public enum MMEScorer {
    /// Upstream's `super_cates['perception']`, in its summation order.
    public static let perceptionCategories = [
        "OCR", "artwork", "celebrity", "color", "count", "existence",
        "landmark", "position", "posters", "scene"
    ]
    /// Upstream's `super_cates['reasoning']` (MME's "cognition"), in its summation order.
    public static let reasoningCategories = [
        "code_reasoning", "commonsense_reasoning", "numerical_calculation",
        "text_translation"
    ]
    public static let answers = ["Yes", "No"]

    /// Scores the samples: rows sorted by index, each reply through `YesNoExtraction`, right when the extraction
    /// equals the `answer` column (so Unknown is always wrong). Per category, questions are grouped by image in
    /// first-appearance order; accuracy+ multiplies the first two results of each image (an image with a third
    /// question has it counted in accuracy only, as upstream; an image with a single question is an error, where
    /// upstream fails with IndexError).
    public static func evaluate(_ samples: [MMESample]) throws -> MMEScores {
        guard !samples.isEmpty else { throw ScorerError.emptyInput(benchmark: "MME", detail: "no questions") }
        var seen = Set<Int>()
        for sample in samples {
            let id = String(sample.index)
            // Upstream keys the extracted answers by index, so a repeated index would score one reply twice.
            guard seen.insert(sample.index).inserted else {
                throw ScorerError.duplicateQuestion(benchmark: "MME", questionID: id)
            }
            guard answers.contains(sample.answer) else {
                throw ScorerError.unknownLabel(
                    benchmark: "MME", questionID: id, label: sample.answer,
                    expected: answers)
            }
            guard sample.prediction != nil else {
                throw ScorerError.missingPrediction(benchmark: "MME", questionID: id)
            }
        }
        let rows = samples.sorted { $0.index < $1.index }

        var extracted: [Int: YesNoAnswer] = [:]
        var categoryOrder: [String] = []
        var imageOrder: [String: [String]] = [:]
        var results: [String: [String: [(index: Int, right: Bool)]]] = [:]
        for row in rows {
            let answer = YesNoExtraction.extract(row.prediction ?? "")
            extracted[row.index] = answer
            if results[row.category] == nil { categoryOrder.append(row.category); results[row.category] = [:] }
            if results[row.category]?[row.imagePath] == nil {
                imageOrder[row.category, default: []].append(row.imagePath)
            }
            results[row.category]?[row.imagePath, default: []].append((row.index, answer.rawValue == row.answer))
        }

        var categories: [MMECategoryScore] = []
        for category in categoryOrder {
            var right = 0, questions = 0, bothRight = 0
            let images = imageOrder[category] ?? []
            for image in images {
                let outcomes = results[category]?[image] ?? []
                guard outcomes.count >= 2 else {
                    throw ScorerError.unpairedImage(
                        benchmark: "MME", category: category, image: image,
                        questionIDs: outcomes.map { String($0.index) })
                }
                questions += outcomes.count
                right += outcomes.filter(\.right).count
                if outcomes[0].right && outcomes[1].right { bothRight += 1 }
            }
            // np.mean of 0/1 values: the sum is exact, then one division; ×100 afterwards.
            let accuracy = Double(right) / Double(questions) * 100
            let accuracyPlus = Double(bothRight) / Double(images.count) * 100
            categories.append(
                MMECategoryScore(
                    category: category, accuracy: accuracy, accuracyPlus: accuracyPlus,
                    score: accuracy + accuracyPlus, questions: questions,
                    images: images.count))
        }

        func total(_ names: [String]) -> Double? {
            var sum = 0.0
            for name in names {
                guard let entry = categories.first(where: { $0.category == name }) else { return nil }
                sum += entry.score
            }
            return sum
        }
        return MMEScores(
            perception: total(perceptionCategories), reasoning: total(reasoningCategories),
            categories: categories, extracted: extracted)
    }
}
