// MGEval — MME (SPEC §6.2) from its LMUData TSV (index, image as base64 or a reference to another row's index,
// question, answer Yes/No, category, image_path), as MG-LLaVA's vendored `mme_dataset.py` reads it.
import Foundation
import MGData
import MGLLaVA

/// MME's TSV rows, their images (inline or referenced) and the prompts upstream asks.
public struct MMEDataset {
    /// One question of the TSV.
    public struct Row: Equatable, Sendable {
        public var index: Int
        /// Base64 image data, or (shorter than 16 characters) another row's `index`.
        public var image: String
        public var question: String
        /// "Yes" or "No".
        public var answer: String
        public var category: String
        /// The `image_path` column: the two questions about one image share it (accuracy+ pairs them).
        public var imagePath: String?
        /// The TSV line, for messages.
        public var line: Int
    }

    public let url: URL
    public let rows: [Row]
    private let rowByIndex: [Int: Row]

    /// Upstream rewrites MME's instruction before asking.
    public static let askedInstruction = "Please answer yes or no."
    public static let rewrittenInstruction = "Please answer the question only a single word yes or no."

    public static func load(_ url: URL) throws -> MMEDataset {
        let table = try TSVTable.read(url)
        let cIndex = try table.requireColumn("index"), cImage = try table.requireColumn("image")
        let cQuestion = try table.requireColumn("question"), cAnswer = try table.requireColumn("answer")
        let cCategory = try table.requireColumn("category")
        let cPath = table.columnIndex("image_path")
        var rows: [Row] = []
        for r in table.rows.indices {
            let raw = table.value(row: r, column: cIndex)
            guard let index = raw.flatMap({ Int($0) ?? Double($0).map { Int($0) } }) else {
                throw EvalError.invalidValue(
                    file: url.path, line: table.lines[r], column: "index", value: raw,
                    problem: "expected an integer")
            }
            rows.append(
                Row(
                    index: index, image: table.value(row: r, column: cImage) ?? "",
                    question: table.value(row: r, column: cQuestion) ?? "",
                    answer: table.value(row: r, column: cAnswer) ?? "",
                    category: table.value(row: r, column: cCategory) ?? "",
                    imagePath: cPath.flatMap { table.value(row: r, column: $0) }, line: table.lines[r]))
        }
        return MMEDataset(url: url, rows: rows)
    }

    public init(url: URL, rows: [Row]) {
        self.url = url
        self.rows = rows
        rowByIndex = Dictionary(rows.map { ($0.index, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The row holding a row's image (VLMEvalKit stores each image once; other rows name its index).
    public func imageRow(for row: Row) -> Row {
        if row.image.count < 16, let i = Int(row.image), let target = rowByIndex[i] { return target }
        return row
    }

    /// The prompt text upstream asks (after `<image>\n`).
    public func prompt(for row: Row) -> String {
        row.question.replacingOccurrences(of: Self.askedInstruction, with: Self.rewrittenInstruction)
    }

    /// The evaluation loop's items (the first `limit` rows), logged by row index; boxes looked up by row index.
    public func items(limit: Int? = nil, boxes: BoxIndex?) -> [EvaluationItem] {
        let selected = limit.map { Array(rows.prefix($0)) } ?? rows
        return selected.map { row in
            EvaluationItem(logIndex: row.index, name: "index \(row.index)", prompt: prompt(for: row)) {
                let source = imageRow(for: row)
                guard let bytes = Data(base64Encoded: source.image, options: .ignoreUnknownCharacters), !bytes.isEmpty
                else {
                    throw EvalError.invalidBase64(
                        file: url.path, line: row.line, index: row.index,
                        detail: "image of row \(source.index)")
                }
                let image = try ImageDecoder.decode(bytes, source: "\(url.path) index \(row.index)")
                return (image, try boxes.map { try $0.record(for: String(row.index)) })
            }
        }
    }

    /// The scorer's samples for the answered rows (the first `limit`), in row order.
    public func samples(answers: [Int: String], limit: Int? = nil) -> [MMESample] {
        let selected = limit.map { Array(rows.prefix($0)) } ?? rows
        return selected.map { row in
            MMESample(
                index: row.index, category: row.category,
                imagePath: row.imagePath ?? "image \(imageRow(for: row).index)", answer: row.answer,
                prediction: answers[row.index])
        }
    }
}
