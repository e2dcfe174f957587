import Foundation

/// One reported number: `Average`, an l2-category or a category, as a fraction (upstream's return value).
public struct MultipleChoiceScore: Equatable, Codable, Sendable {
    public var name: String
    public var value: Double

    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}

/// How one row fared: the raw prediction, the letters extracted from it and the comparison with the answer.
public struct MultipleChoiceRowResult: Equatable, Codable, Sendable {
    public var index: Int
    public var prediction: String
    public var extracted: String
    /// nil in the test split (no answers) or when the row's answer is NaN.
    public var answer: String?
    /// Exact string comparison of `extracted` with `answer`; nil in the test split, where nothing is scored.
    public var correct: Bool?

    public init(index: Int, prediction: String, extracted: String, answer: String?, correct: Bool?) {
        self.index = index
        self.prediction = prediction
        self.extracted = extracted
        self.answer = answer
        self.correct = correct
    }
}

/// Scores of one value of the `split` column, for files whose main rows carry several.
public struct MultipleChoiceSplitScores: Equatable, Codable, Sendable {
    /// The split column's value; "nan" for rows where it is NaN.
    public var split: String
    public var scores: [MultipleChoiceScore]
}

/// What `MultipleChoiceScorer.evaluate` returns; its JSON mirrors the reference fixture
/// (`reference/mmbench/expected.json`): `split`, `scores` (fractions), `scores_percent`, `main_hits`, `per_row`,
/// plus `score_order`, because JSON objects do not keep key order through Foundation's coders and the order
/// (Average, l2-categories sorted, categories sorted) is part of upstream's result.
public struct MultipleChoiceScores: Equatable, Codable, Sendable {
    /// The dataset's split, "dev" or "test".
    public var split: String
    /// In upstream's order: `Average`, then each l2-category (when the file has the column), then each category,
    /// names sorted by code point. The test split holds only `Average` = 0, as upstream returns.
    public var scores: [MultipleChoiceScore]
    /// Per main question (index < 1 000 000): 1 when every row of its circular group is right. Empty for test.
    public var mainHits: [Int: Int]
    /// Every row, sorted by index.
    public var perRow: [MultipleChoiceRowResult]
    /// Only when the main rows carry more than one distinct `split` value: the scores of each, sorted by split
    /// name. Upstream loops over the set of split values and returns the last one it computed (set order);
    /// `scores` is then the last of these in sorted order. A category with no main row in a split is left out
    /// of that split's list (upstream reports NaN for it, which JSON cannot carry).
    public var splitScores: [MultipleChoiceSplitScores]
    /// What was scored but deserves a look, each counted with the first indexes: predictions with no option
    /// letter, predictions naming a letter their row does not offer, rows whose answer is not among their
    /// options, blank options. Upstream scores all of these silently (as wrong, or as it finds them).
    public var warnings: [String]

    public init(
        split: String, scores: [MultipleChoiceScore], mainHits: [Int: Int], perRow: [MultipleChoiceRowResult],
        splitScores: [MultipleChoiceSplitScores] = [], warnings: [String] = []
    ) {
        self.split = split
        self.scores = scores
        self.mainHits = mainHits
        self.perRow = perRow
        self.splitScores = splitScores
        self.warnings = warnings
    }

    /// The score with this name (`"Average"`, a category, an l2-category).
    public subscript(name: String) -> Double? { scores.first { $0.name == name }?.value }

    /// The scores as a table, values ×100 with two decimals: `Average`, a rule, then the other names in order.
    public func table(title: String? = nil) -> String {
        let header = ("Category (\(split))", "Accuracy (%)")
        let body = scores.map { ($0.name, String(format: "%.2f", $0.value * 100)) }
        let nameWidth = max(header.0.count, body.map { $0.0.count }.max() ?? 0)
        let valueWidth = max(header.1.count, body.map { $0.1.count }.max() ?? 0)
        func line(_ name: String, _ value: String) -> String {
            name + String(repeating: " ", count: nameWidth - name.count) + "  "
                + String(repeating: " ", count: valueWidth - value.count) + value
        }
        var lines: [String] = []
        if let title { lines.append(title) }
        lines.append(line(header.0, header.1))
        lines.append(String(repeating: "-", count: nameWidth + 2 + valueWidth))
        for (position, entry) in body.enumerated() {
            lines.append(line(entry.0, entry.1))
            if position == 0 && body.count > 1 && entry.0 == "Average" {
                lines.append(String(repeating: "-", count: nameWidth + 2 + valueWidth))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey {
        case split, scores, scoresPercent = "scores_percent", scoreOrder = "score_order", mainHits = "main_hits"
        case perRow = "per_row", splitScores = "split_scores", warnings
    }

    /// Keys taken from data (score names, indexes).
    private struct NameKey: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(split, forKey: .split)
        var scoreObject = container.nestedContainer(keyedBy: NameKey.self, forKey: .scores)
        var percentObject = container.nestedContainer(keyedBy: NameKey.self, forKey: .scoresPercent)
        for score in scores {
            try scoreObject.encode(score.value, forKey: NameKey(stringValue: score.name))
            try percentObject.encode(score.value * 100, forKey: NameKey(stringValue: score.name))
        }
        try container.encode(scores.map(\.name), forKey: .scoreOrder)
        var hits = container.nestedContainer(keyedBy: NameKey.self, forKey: .mainHits)
        for index in mainHits.keys.sorted() {
            try hits.encode(mainHits[index] ?? 0, forKey: NameKey(stringValue: String(index)))
        }
        try container.encode(perRow, forKey: .perRow)
        if !splitScores.isEmpty { try container.encode(splitScores, forKey: .splitScores) }
        if !warnings.isEmpty { try container.encode(warnings, forKey: .warnings) }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        split = try container.decode(String.self, forKey: .split)
        let values = try container.decode([String: Double].self, forKey: .scores)
        // Without `score_order` (e.g. the reference fixture read back), fall back to upstream's rule as far as it
        // can be recovered: Average first, the rest by code point.
        let order =
            try container.decodeIfPresent([String].self, forKey: .scoreOrder)
            ?? values.keys.sorted { a, b in
                a == "Average" || b == "Average" ? (a == "Average" && b != "Average") : codePointLess(a, b)
            }
        scores = try order.map { name in
            guard let value = values[name] else {
                throw DecodingError.dataCorruptedError(
                    forKey: .scoreOrder, in: container,
                    debugDescription: "score '\(name)' is not in 'scores'")
            }
            return MultipleChoiceScore(name: name, value: value)
        }
        let hits = try container.decode([String: Int].self, forKey: .mainHits)
        var mainHits: [Int: Int] = [:]
        for (key, value) in hits {
            guard let index = Int(key) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .mainHits, in: container,
                    debugDescription: "main_hits key '\(key)' is not an index")
            }
            mainHits[index] = value
        }
        self.mainHits = mainHits
        perRow = try container.decode([MultipleChoiceRowResult].self, forKey: .perRow)
        splitScores = try container.decodeIfPresent([MultipleChoiceSplitScores].self, forKey: .splitScores) ?? []
        warnings = try container.decodeIfPresent([String].self, forKey: .warnings) ?? []
    }
}

/// Python sorts strings by code point; Swift's `<` on String does not promise that, so sort on the scalars.
private func codePointKey(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

private func codePointLess(_ a: String, _ b: String) -> Bool {
    codePointKey(a).lexicographicallyPrecedes(codePointKey(b))
}

/// Upstream's `MultipleChoiceDataset.evaluate` (SPEC §6.1) without the model: answer extraction by regex and
/// circular evaluation. No ChatGPT-based extraction, as upstream.
public enum MultipleChoiceScorer {
    /// Indexes at or above this are circular copies: copy k of main question i has index i + k·1 000 000.
    public static let circularStride = 1_000_000

    /// The first match of the regex `([A-D]+)` in the prediction (the first run of capital A–D letters), or ""
    /// when there is none. Lower-case letters and E… do not count, exactly as upstream.
    public static func extractAnswer(_ prediction: String) -> String {
        var run = String.UnicodeScalarView()
        for scalar in prediction.unicodeScalars {
            if ("A"..."D").contains(scalar) {
                run.append(scalar)
            } else if !run.isEmpty {
                break
            }
        }
        return String(run)
    }

    /// Scores `predictions` (row index → generated text) against the dataset.
    ///
    /// Every row needs a prediction and every prediction a row. In the test split nothing is scored: the result
    /// is `Average` 0 with the extracted letters per row, as upstream (the results file is for the official
    /// server). In the dev split, a main question (index < 1 000 000) counts as right only when every row whose
    /// index ≡ it (mod 1 000 000) is right — with a non-circular file that is plain accuracy; rows that are
    /// copies of an index that has no main row do not count anywhere, as upstream. Scores are means over main
    /// questions: overall, per l2-category (if the file has the column) and per category. Main rows need a
    /// non-NaN category (and l2-category) for that: upstream fails on NaN there too.
    public static func evaluate(
        dataset: MultipleChoiceDataset, predictions: [Int: String]
    ) throws -> MultipleChoiceScores {
        let file = dataset.url.path
        if let stray = predictions.keys.filter({ dataset.row(index: $0) == nil }).min() {
            throw EvalError.unknownPrediction(file: file, index: stray)
        }
        let scored = dataset.split == "dev"
        var perRow: [MultipleChoiceRowResult] = []
        var correctByIndex: [Int: Bool] = [:]
        for row in dataset.rows {
            guard let prediction = predictions[row.index] else {
                throw EvalError.missingPrediction(file: file, index: row.index)
            }
            let extracted = extractAnswer(prediction)
            let correct = scored ? (row.answer.map { $0 == extracted } ?? false) : nil
            correctByIndex[row.index] = correct ?? false
            perRow.append(
                MultipleChoiceRowResult(
                    index: row.index, prediction: prediction, extracted: extracted,
                    answer: row.answer, correct: correct))
        }
        perRow.sort { $0.index < $1.index }
        let warnings = Self.warnings(dataset: dataset, perRow: perRow)
        guard scored else {
            return MultipleChoiceScores(
                split: dataset.split, scores: [MultipleChoiceScore(name: "Average", value: 0)],
                mainHits: [:], perRow: perRow, warnings: warnings)
        }

        // Circular groups: every row joins the group of index mod stride (which includes the main row itself).
        let mainRows = dataset.rows.filter { $0.index < circularStride }.sorted { $0.index < $1.index }
        var groupAllCorrect: [Int: Bool] = [:]
        for row in dataset.rows {
            let key = row.index % circularStride
            groupAllCorrect[key] = (groupAllCorrect[key] ?? true) && (correctByIndex[row.index] ?? false)
        }
        guard !mainRows.isEmpty else { throw EvalError.noMainQuestions(file: file) }
        var mainHits: [Int: Int] = [:]
        for row in mainRows {
            guard row.category != nil else {
                throw EvalError.invalidValue(
                    file: file, line: row.line, column: "category", value: nil,
                    problem: "row index \(row.index) needs a category to be scored")
            }
            if dataset.hasL2Category && row.l2Category == nil {
                throw EvalError.invalidValue(
                    file: file, line: row.line, column: "l2-category", value: nil,
                    problem: "row index \(row.index) needs an l2-category to be scored")
            }
            mainHits[row.index] = (groupAllCorrect[row.index] ?? false) ? 1 : 0
        }

        // Upstream computes the table once per distinct split value of the main rows (filtering on it) and
        // returns the last; with one value (the usual case, or no split column) that is all main rows.
        var bySplit: [String: [MultipleChoiceRow]] = [:]
        for row in mainRows { bySplit[row.split ?? "nan", default: []].append(row) }
        let splitNames = bySplit.keys.sorted(by: codePointLess)
        let splitScores = splitNames.map { name in
            MultipleChoiceSplitScores(
                split: name,
                scores: tableScores(
                    bySplit[name] ?? [], hits: mainHits,
                    withL2: dataset.hasL2Category))
        }
        let scores = splitScores.last?.scores ?? tableScores([], hits: mainHits, withL2: dataset.hasL2Category)
        return MultipleChoiceScores(
            split: dataset.split, scores: scores, mainHits: mainHits, perRow: perRow,
            splitScores: splitScores.count > 1 ? splitScores : [], warnings: warnings)
    }

    /// See `MultipleChoiceScores.warnings`. `perRow` is sorted by index.
    static func warnings(dataset: MultipleChoiceDataset, perRow: [MultipleChoiceRowResult]) -> [String] {
        var noLetter: [Int] = [], notOffered: [Int] = [], answerNotOffered: [Int] = [], blankOption: [Int] = []
        for result in perRow {
            guard let row = dataset.row(index: result.index) else { continue }
            let letters = Set(row.options.map(\.letter))
            if result.extracted.isEmpty {
                noLetter.append(row.index)
            } else if !letters.contains(result.extracted) {
                notOffered.append(row.index)
            }
            if let answer = row.answer, !letters.contains(answer) { answerNotOffered.append(row.index) }
            if row.options.contains(where: { $0.text.allSatisfy(\.isWhitespace) }) { blankOption.append(row.index) }
        }
        func line(_ indexes: [Int], _ what: String) -> String? {
            guard !indexes.isEmpty else { return nil }
            let shown = indexes.prefix(10).map(String.init).joined(separator: ", ")
            return "\(indexes.count) \(what) (index \(shown)\(indexes.count > 10 ? ", …" : ""))"
        }
        return [
            line(noLetter, "predictions hold no option letter A–D and are scored wrong"),
            line(notOffered, "predictions name letters that are not one of their row's options"),
            line(answerNotOffered, "rows have an answer that is not among their options (they can never be right)"),
            line(blankOption, "rows have an option whose text is blank")
        ].compactMap { $0 }
    }

    /// Average, then l2-categories, then categories, each a mean of main-question hits. Entries are merged the
    /// way Python's `dict.update` merges them: a category named like an l2-category replaces its value in place.
    private static func tableScores(
        _ rows: [MultipleChoiceRow], hits: [Int: Int], withL2: Bool
    ) -> [MultipleChoiceScore] {
        func mean(_ group: [MultipleChoiceRow]) -> Double {
            // np.mean of integer hits: the sum is exact, so one division gives the same double.
            guard !group.isEmpty else { return .nan }
            return Double(group.reduce(0) { $0 + (hits[$1.index] ?? 0) }) / Double(group.count)
        }
        var scores = [MultipleChoiceScore(name: "Average", value: mean(rows))]
        func update(_ name: String, _ value: Double) {
            if let position = scores.firstIndex(where: { $0.name == name }) {
                scores[position].value = value
            } else {
                scores.append(MultipleChoiceScore(name: name, value: value))
            }
        }
        func addGroups(_ key: (MultipleChoiceRow) -> String?) {
            var groups: [String: [MultipleChoiceRow]] = [:]
            for row in rows { if let name = key(row) { groups[name, default: []].append(row) } }
            for name in groups.keys.sorted(by: codePointLess) { update(name, mean(groups[name] ?? [])) }
        }
        if withL2 { addGroups { $0.l2Category } }
        addGroups { $0.category }
        return scores
    }
}
