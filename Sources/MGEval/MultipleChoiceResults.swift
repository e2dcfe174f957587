import Foundation

/// The files `MultipleChoiceResults.write` produced.
public struct MultipleChoiceResultFiles: Equatable, Sendable {
    /// `<tsv-basename>-results.csv`: one row per question, as upstream's `-results.xlsx`.
    public var csv: URL
    /// `<tsv-basename>-results.json`: the `MultipleChoiceScores` (scores, main hits, per-row results).
    public var json: URL

    public var all: [URL] { [csv, json] }
}

/// Writes a multiple-choice evaluation into a work directory. Upstream writes `<tsv-basename>-results.xlsx`
/// (question, option texts, prediction, category, l2-category, index, split, answer) — for the test split that
/// file is what gets submitted to the official server. Here the same table is a CSV, and the scores go next to
/// it as JSON.
public enum MultipleChoiceResults {
    /// Writes both files (creating `workDir` if needed) and returns their URLs. Each file is written to a
    /// temporary file in the same directory and renamed into place (`Data.WritingOptions.atomic`), so a crash
    /// never leaves a half-written results file that looks complete. Rows are in file order, as upstream.
    @discardableResult
    public static func write(dataset: MultipleChoiceDataset, scores: MultipleChoiceScores,
                             to workDir: URL) throws -> MultipleChoiceResultFiles {
        let csvURL = workDir.appendingPathComponent("\(dataset.name)-results.csv")
        let jsonURL = workDir.appendingPathComponent("\(dataset.name)-results.json")
        let csv = try csvText(dataset: dataset, scores: scores)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do {
            json = try encoder.encode(scores)
        } catch {
            throw EvalError.writeFailed(file: jsonURL.path, detail: "cannot encode the scores: \(error)")
        }
        do {
            try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        } catch {
            throw EvalError.writeFailed(file: workDir.path, detail: error.localizedDescription)
        }
        try writeAtomically(Data(csv.utf8), to: csvURL)
        try writeAtomically(json, to: jsonURL)
        return MultipleChoiceResultFiles(csv: csvURL, json: jsonURL)
    }

    /// The results table as CSV text. Columns: question, every option letter used by any row (letter order),
    /// prediction, category, l2-category (when the file has it), index, split, answer; NaN is an empty field.
    public static func csvText(dataset: MultipleChoiceDataset, scores: MultipleChoiceScores) throws -> String {
        var predictions: [Int: String] = [:]
        for result in scores.perRow { predictions[result.index] = result.prediction }
        let letters = Set(dataset.rows.flatMap { $0.options.map(\.letter) }).sorted()
        var header = ["question"] + letters + ["prediction", "category"]
        if dataset.hasL2Category { header.append("l2-category") }
        header += ["index", "split", "answer"]

        var lines = [header.map(csvField).joined(separator: ",")]
        for row in dataset.rows {
            guard let prediction = predictions[row.index] else {
                throw EvalError.missingPrediction(file: dataset.url.path, index: row.index)
            }
            let optionText = Dictionary(row.options.map { ($0.letter, $0.text) }, uniquingKeysWith: { first, _ in first })
            var fields: [String?] = [row.question] + letters.map { optionText[$0] } + [prediction, row.category]
            if dataset.hasL2Category { fields.append(row.l2Category) }
            fields += [String(row.index), row.split, row.answer]
            lines.append(fields.map { csvField($0 ?? "") }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 4180 quoting: a field with a comma, a quote or a line break is wrapped in quotes, quotes doubled.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func writeAtomically(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw EvalError.writeFailed(file: url.path, detail: error.localizedDescription)
        }
    }
}
