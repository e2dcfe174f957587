// MGEval — POPE scoring (SPEC §6.2). Followed: PhoenixZ810/MG-LLaVA's vendored
// `xtuner/dataset/evaluation/pope_dataset.py` (`POPEDataset.evaluate`, `eval_func`), same as InternLM/xtuner's.

/// One POPE question with the model's reply.
public struct POPESample: Equatable, Sendable {
    /// `question_id` of the POPE file (ids repeat across the three files, so they only name the question).
    public var questionID: String
    /// The file the question comes from, e.g. "coco_pope_random": upstream's `category`, one score per value.
    public var split: String
    /// The file's `label`: exactly "yes" or "no" (upstream asserts it when loading).
    public var label: String
    /// The reply; nil when the question was never answered (an error here, as upstream has a row per question).
    public var prediction: String?

    public init(questionID: String, split: String, label: String, prediction: String?) {
        self.questionID = questionID
        self.split = split
        self.label = label
        self.prediction = prediction
    }
}

/// What upstream logs for one split. A reply that is neither yes nor no (`YesNoAnswer.unknown`) counts as a "no",
/// because upstream turns each extraction into `int(answer == 'Yes')`.
public struct POPESplitScores: Equatable, Codable, Sendable {
    public var split: String
    public var count: Int
    public var truePositives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var falseNegatives: Int
    /// (TP + TN) / all.
    public var accuracy: Double
    /// TP / (TP + FP); nil when the model never said yes (upstream stops with ZeroDivisionError there).
    public var precision: Double?
    /// TP / (TP + FN); nil when no label is yes (ZeroDivisionError upstream).
    public var recall: Double?
    /// 2·P·R / (P + R); nil when P or R is, or when both are 0 (ZeroDivisionError upstream).
    public var f1: Double?
    /// Share of replies extracted as Yes.
    public var yesRatio: Double
}

/// Every split in order of first appearance (upstream: the order of the data files) and the returned score.
public struct POPEScores: Equatable, Codable, Sendable {
    public var splits: [POPESplitScores]
    /// Upstream's return value: the mean F1 over the splits, as a fraction. nil when some split's F1 is undefined
    /// (upstream would have stopped with ZeroDivisionError; the per-split numbers are still reported here).
    public var score: Double?

    public subscript(split: String) -> POPESplitScores? { splits.first { $0.split == split } }
}

/// POPE scoring as MG-LLaVA's `POPEDataset.evaluate` and `eval_func` compute it.
public enum POPEScorer {
    public static let labels = ["yes", "no"]

    /// Scores the samples. Throws on an empty input, a label other than "yes"/"no", or a missing reply.
    public static func evaluate(_ samples: [POPESample]) throws -> POPEScores {
        guard !samples.isEmpty else { throw ScorerError.emptyInput(benchmark: "POPE", detail: "no questions") }
        var order: [String] = []
        var bySplit: [String: [(prediction: Bool, label: Bool)]] = [:]
        for sample in samples {
            guard labels.contains(sample.label) else {
                throw ScorerError.unknownLabel(
                    benchmark: "POPE", questionID: sample.questionID, label: sample.label,
                    expected: labels)
            }
            guard let prediction = sample.prediction else {
                throw ScorerError.missingPrediction(benchmark: "POPE", questionID: sample.questionID)
            }
            if bySplit[sample.split] == nil { order.append(sample.split) }
            // Upstream runs the label through YOrN_Extraction too; for "yes"/"no" that is the identity.
            let saidYes = YesNoExtraction.extract(prediction) == .yes
            bySplit[sample.split, default: []].append((saidYes, sample.label == "yes"))
        }
        let splits = order.map { score(split: $0, pairs: bySplit[$0] ?? []) }
        // Python: `score = 0; score += f1 …; score /= len(names)`, summed in file order.
        var total = 0.0
        var defined = true
        for split in splits {
            if let f1 = split.f1 { total += f1 } else { defined = false }
        }
        return POPEScores(splits: splits, score: defined ? total / Double(splits.count) : nil)
    }

    /// `eval_func` for one split, with upstream's arithmetic (Python floats are IEEE doubles; int / int is
    /// correctly rounded, as Double(a) / Double(b) is for counts below 2^53).
    static func score(split: String, pairs: [(prediction: Bool, label: Bool)]) -> POPESplitScores {
        var tp = 0, fp = 0, tn = 0, fn = 0
        for pair in pairs {
            switch (pair.prediction, pair.label) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : nil
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : nil
        var f1: Double?
        if let p = precision, let r = recall, p + r > 0 { f1 = 2 * p * r / (p + r) }
        let n = pairs.count
        return POPESplitScores(
            split: split, count: n, truePositives: tp, falsePositives: fp, trueNegatives: tn,
            falseNegatives: fn, accuracy: Double(tp + tn) / Double(n), precision: precision,
            recall: recall, f1: f1, yesRatio: Double(tp + fp) / Double(n))
    }
}
