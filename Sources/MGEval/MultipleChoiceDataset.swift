import Foundation

/// One answer choice of a multiple-choice row: the option column's letter and its text.
public struct MultipleChoiceOption: Equatable, Codable, Sendable {
    public var letter: String
    public var text: String

    public init(letter: String, text: String) {
        self.letter = letter
        self.text = text
    }
}

/// One question of a VLMEvalKit-style multiple-choice TSV (MMBench, SEED-Image, ScienceQA-IMG, MMMU, AI2D,
/// MMStar, …), with its image reference already resolved.
public struct MultipleChoiceRow: Equatable, Sendable {
    /// The `index` column: predictions, image references and circular groups are keyed by it.
    public var index: Int
    public var question: String
    /// The `hint` column (ScienceQA's context); nil when NaN or absent.
    public var hint: String?
    /// The option columns `A`…`Z` that are present in the file and non-NaN in this row, in letter order.
    public var options: [MultipleChoiceOption]
    /// The correct letter; nil in the test split (no `answer` column) or when NaN.
    public var answer: String?
    public var category: String?
    public var l2Category: String?
    public var split: String?
    /// Base64 image after following references (see `MultipleChoiceDataset.load`).
    public var image: String
    /// The 1-based TSV line the row starts on, for error messages.
    public var line: Int

    public init(
        index: Int, question: String, hint: String?, options: [MultipleChoiceOption], answer: String?,
        category: String?, l2Category: String?, split: String?, image: String, line: Int
    ) {
        self.index = index
        self.question = question
        self.hint = hint
        self.options = options
        self.answer = answer
        self.category = category
        self.l2Category = l2Category
        self.split = split
        self.image = image
        self.line = line
    }
}

/// A multiple-choice benchmark TSV as upstream's `MultipleChoiceDataset` (SPEC §6.1) reads it: rows in file
/// order, option texts, split detection, MMMU's open-question rewrite, and the exact prompt text.
public struct MultipleChoiceDataset {
    public let url: URL
    public let rows: [MultipleChoiceRow]
    /// "dev" when the file has an `answer` column (upstream asks whether the first row's keys include it,
    /// which is the same as the header having it), else "test" (answers are withheld; scoring is skipped).
    public let split: String
    /// Whether the file has an `l2-category` column; upstream then scores per l2-category too.
    public let hasL2Category: Bool

    private let rowPositionByIndex: [Int: Int]

    /// The file name without its extension; results files are named after it.
    public var name: String { url.deletingPathExtension().lastPathComponent }

    /// Loads and checks a TSV. Required columns: `index`, `question`, `image`, `category`; optional: `hint`,
    /// `A`…`Z`, `answer`, `l2-category`, `split`. Every `index` must be a distinct non-negative integer (the
    /// circular-evaluation arithmetic and the image references rely on it).
    public static func load(_ url: URL) throws -> MultipleChoiceDataset {
        try MultipleChoiceDataset(table: TSVTable.read(url))
    }

    /// Builds the dataset from an already parsed table (the file name in `table.url` decides the MMMU rule).
    public init(table: TSVTable) throws {
        let file = table.url.path
        guard !table.rows.isEmpty else { throw EvalError.noRows(file: file) }
        let indexColumn = try table.requireColumn("index")
        let questionColumn = try table.requireColumn("question")
        let imageColumn = try table.requireColumn("image")
        let categoryColumn = try table.requireColumn("category")
        let hintColumn = table.columnIndex("hint")
        let answerColumn = table.columnIndex("answer")
        let l2Column = table.columnIndex("l2-category")
        let splitColumn = table.columnIndex("split")
        let optionColumns: [(letter: String, column: Int)] = (UnicodeScalar("A").value...UnicodeScalar("Z").value)
            .compactMap { code in
                guard let scalar = UnicodeScalar(code) else { return nil }
                let letter = String(Character(scalar))
                return table.columnIndex(letter).map { (letter, $0) }
            }
        // MMMU files go through upstream's MMMU_preproc: an open question (NaN in A) becomes a two-way choice
        // between the reference answer and 'Other Answers'.
        let isMMMU = table.url.lastPathComponent.contains("MMMU")
        if isMMMU && answerColumn == nil {
            throw EvalError.missingColumn(file: file, column: "answer", available: table.columns)
        }

        // Indexes first: image references point at them.
        var indexes: [Int] = []
        var positionByIndex: [Int: Int] = [:]
        for row in 0..<table.rows.count {
            let raw = table.value(row: row, column: indexColumn)
            guard let text = raw, let index = Int(text.trimmingCharacters(in: .whitespaces)), index >= 0 else {
                throw EvalError.invalidValue(
                    file: file, line: table.lines[row], column: "index", value: raw,
                    problem: "expected a non-negative integer")
            }
            if let first = positionByIndex[index] {
                throw EvalError.duplicateIndex(
                    file: file, index: index, firstLine: table.lines[first],
                    line: table.lines[row])
            }
            positionByIndex[index] = row
            indexes.append(index)
        }

        var rows: [MultipleChoiceRow] = []
        rows.reserveCapacity(table.rows.count)
        for row in 0..<table.rows.count {
            let line = table.lines[row]
            guard let question = table.displayValue(row: row, column: questionColumn) else {
                throw EvalError.invalidValue(
                    file: file, line: line, column: "question", value: nil,
                    problem: "every row needs a question")
            }
            let answer = answerColumn.flatMap { table.displayValue(row: row, column: $0) }
            var options: [MultipleChoiceOption] = []
            for (letter, column) in optionColumns {
                var text = table.displayValue(row: row, column: column)
                if isMMMU, let aColumn = optionColumns.first(where: { $0.letter == "A" })?.column,
                    table.value(row: row, column: aColumn) == nil
                {
                    if letter == "A" { text = answer }
                    if letter == "B" { text = "Other Answers" }
                }
                if let text { options.append(MultipleChoiceOption(letter: letter, text: text)) }
            }
            let image = try Self.resolveImage(
                row: row, table: table, imageColumn: imageColumn, indexes: indexes,
                positionByIndex: positionByIndex)
            rows.append(
                MultipleChoiceRow(
                    index: indexes[row], question: question,
                    hint: hintColumn.flatMap { table.displayValue(row: row, column: $0) },
                    options: options, answer: answer,
                    category: table.displayValue(row: row, column: categoryColumn),
                    l2Category: l2Column.flatMap { table.displayValue(row: row, column: $0) },
                    split: splitColumn.flatMap { table.displayValue(row: row, column: $0) },
                    image: image, line: line))
        }
        self.init(
            url: table.url, rows: rows, split: answerColumn != nil ? "dev" : "test",
            hasL2Category: l2Column != nil)
    }

    /// Assembles a dataset from rows built in code (tests, converters). Rows must have distinct indexes.
    public init(url: URL, rows: [MultipleChoiceRow], split: String, hasL2Category: Bool) {
        self.url = url
        self.rows = rows
        self.split = split
        self.hasL2Category = hasL2Category
        var positions: [Int: Int] = [:]
        for (position, row) in rows.enumerated() where positions[row.index] == nil { positions[row.index] = position }
        rowPositionByIndex = positions
    }

    /// The row with this `index`, if any.
    public func row(index: Int) -> MultipleChoiceRow? {
        rowPositionByIndex[index].map { rows[$0] }
    }

    /// Upstream's `get_image`: a value shorter than 16 characters is not an image but the `index` of the row
    /// whose image to use (circular copies point at their main question this way); references may chain.
    private static func resolveImage(
        row: Int, table: TSVTable, imageColumn: Int, indexes: [Int],
        positionByIndex: [Int: Int]
    ) throws -> String {
        let file = table.url.path
        guard var value = table.value(row: row, column: imageColumn) else {
            throw EvalError.invalidValue(
                file: file, line: table.lines[row], column: "image", value: nil,
                problem: "row index \(indexes[row]) has no image")
        }
        var chain = [indexes[row]]
        // Python's len() counts code points; fewer than 16 of them take fewer than 64 UTF-8 bytes, which spares
        // counting the scalars of every 100 KB image.
        while value.utf8.count < 64 && value.unicodeScalars.count < 16 {
            guard let reference = Int(value.trimmingCharacters(in: .whitespaces)),
                let target = positionByIndex[reference]
            else {
                throw EvalError.unknownImageReference(
                    file: file, line: table.lines[row], index: indexes[row],
                    reference: value)
            }
            if chain.contains(reference) {
                throw EvalError.imageReferenceCycle(
                    file: file, line: table.lines[row], index: indexes[row],
                    chain: chain + [reference])
            }
            chain.append(reference)
            guard let next = table.value(row: target, column: imageColumn) else {
                throw EvalError.invalidValue(
                    file: file, line: table.lines[target], column: "image", value: nil,
                    problem: "row index \(reference) has no image (referenced from row "
                        + "index \(indexes[row]))")
            }
            value = next
        }
        return value
    }

    /// The text upstream places in the template's `{input}` (for Vicuna `USER: {input} ASSISTANT:`), i.e.
    /// `LLaVAProxyEvalDataset.getitem` for the `multiple_choice` dataset: `<image>\n`, the hint and a newline
    /// when there is one, the question and a newline, one `"X. text\n"` line per option, then the instruction —
    /// the Chinese one when any character of the text so far is a CJK unified ideograph (U+4E00…U+9FFF), which
    /// is upstream's `is_cn_string` test.
    public func promptText(for row: MultipleChoiceRow) -> String {
        var text = "<image>\n"
        if let hint = row.hint { text += hint + "\n" }
        text += row.question + "\n"
        for option in row.options { text += "\(option.letter). \(option.text)\n" }
        let isChinese = text.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) }
        return text + (isChinese ? "请直接回答选项字母。" : "Answer with the option's letter from the given choices directly.")
    }

    /// The row's image bytes (JPEG/PNG as stored). Decoding is lenient the way Python's `base64.b64decode` is by
    /// default (characters outside the alphabet, e.g. line breaks, are skipped) but the padding must be right.
    public func imageData(for row: MultipleChoiceRow) throws -> Data {
        guard let data = Data(base64Encoded: row.image, options: .ignoreUnknownCharacters) else {
            throw EvalError.invalidBase64(
                file: url.path, line: row.line, index: row.index,
                detail: "\(row.image.utf8.count) characters do not decode; "
                    + "starts with '\(EvalError.abbreviated(row.image, limit: 24))'")
        }
        guard !data.isEmpty else {
            throw EvalError.invalidBase64(
                file: url.path, line: row.line, index: row.index,
                detail: "decodes to no bytes")
        }
        return data
    }
}
