import Foundation
import MGData

/// The files `MultipleChoiceResults.write` produced.
public struct MultipleChoiceResultFiles: Equatable, Sendable {
    /// `<tsv-basename>-results.xlsx`: one row per question, as upstream writes it (the test-split submission).
    public var xlsx: URL
    /// `<tsv-basename>-results.csv`: the same table as CSV.
    public var csv: URL
    /// `<tsv-basename>-results.json`: the `MultipleChoiceScores` (scores, main hits, per-row results).
    public var json: URL

    public var all: [URL] { [xlsx, csv, json] }
}

/// Writes a multiple-choice evaluation into a work directory. Upstream writes `<tsv-basename>-results.xlsx`
/// (question, option texts, prediction, category, l2-category, index, split, answer) — for the test split that
/// file is what gets submitted to the official server. The same table also goes to a CSV, and the scores to JSON.
public enum MultipleChoiceResults {
    /// Writes both files (creating `workDir` if needed) and returns their URLs. Each file is written to a
    /// temporary file in the same directory and renamed into place (`Data.WritingOptions.atomic`), so a crash
    /// never leaves a half-written results file that looks complete. Rows are in file order, as upstream.
    @discardableResult
    public static func write(
        dataset: MultipleChoiceDataset, scores: MultipleChoiceScores,
        to workDir: URL
    ) throws -> MultipleChoiceResultFiles {
        let xlsxURL = workDir.appendingPathComponent("\(dataset.name)-results.xlsx")
        let csvURL = workDir.appendingPathComponent("\(dataset.name)-results.csv")
        let jsonURL = workDir.appendingPathComponent("\(dataset.name)-results.json")
        let rows = try table(dataset: dataset, scores: scores)
        let csv = try csvText(dataset: dataset, scores: scores)
        let xlsx = try XLSXWriter.workbook(rows: rows)
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
            throw EvalError.writeFailed(file: workDir.path, detail: DataError.plainReason(error))
        }
        try writeAtomically(xlsx, to: xlsxURL)
        try writeAtomically(Data(csv.utf8), to: csvURL)
        try writeAtomically(json, to: jsonURL)
        return MultipleChoiceResultFiles(xlsx: xlsxURL, csv: csvURL, json: jsonURL)
    }

    /// The results table as CSV text (see `table`).
    public static func csvText(dataset: MultipleChoiceDataset, scores: MultipleChoiceScores) throws -> String {
        try table(dataset: dataset, scores: scores).map { row in
            row.map { cell -> String in
                switch cell {
                case .text(let s): return csvField(s)
                case .number(let v): return String(Int(v))
                case .empty: return ""
                }
            }.joined(separator: ",")
        }.joined(separator: "\n") + "\n"
    }

    /// The results table, header first. Columns: question, every option letter used by any row (letter order),
    /// prediction, category, l2-category (when the file has it), index (a number), split, answer; NaN is empty.
    public static func table(dataset: MultipleChoiceDataset, scores: MultipleChoiceScores) throws -> [[XLSXCell]] {
        var predictions: [Int: String] = [:]
        for result in scores.perRow { predictions[result.index] = result.prediction }
        let letters = Set(dataset.rows.flatMap { $0.options.map(\.letter) }).sorted()
        var header = ["question"] + letters + ["prediction", "category"]
        if dataset.hasL2Category { header.append("l2-category") }
        header += ["index", "split", "answer"]

        var rows: [[XLSXCell]] = [header.map { .text($0) }]
        func text(_ s: String?) -> XLSXCell { s.map { .text($0) } ?? .empty }
        for row in dataset.rows {
            guard let prediction = predictions[row.index] else {
                throw EvalError.missingPrediction(file: dataset.url.path, index: row.index)
            }
            let optionText = Dictionary(
                row.options.map { ($0.letter, $0.text) }, uniquingKeysWith: { first, _ in first })
            var cells: [XLSXCell] =
                [.text(row.question)] + letters.map { text(optionText[$0]) }
                + [.text(prediction), text(row.category)]
            if dataset.hasL2Category { cells.append(text(row.l2Category)) }
            cells += [.number(Double(row.index)), text(row.split), text(row.answer)]
            rows.append(cells)
        }
        return rows
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
            throw EvalError.writeFailed(file: url.path, detail: DataError.plainReason(error))
        }
    }
}
