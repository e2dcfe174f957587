// MGData — the embedded default's dataset (DESIGN §7), written in the upstream formats: LLaVA JSON + box JSON for
// both stages, and an MMBench-format dev TSV with circular copies, so every reader on the real path is exercised.
import Foundation

/// How much synthetic data to write.
public struct SyntheticDatasetSpec: Codable, Equatable, Sendable {
    /// Bumped when the generator changes what it writes (a stale folder is then regenerated).
    public static let currentVersion = 4
    public var version = SyntheticDatasetSpec.currentVersion
    public var pretrainSamples = 2000
    public var sftSamples = 3000
    /// Main MMBench questions; the TSV holds 4 rows per question (the question and its 3 circular copies).
    public var mmbenchQuestions = 100
    public var seed: UInt64 = 2024

    public init() {}
    public init(pretrainSamples: Int, sftSamples: Int, mmbenchQuestions: Int, seed: UInt64) {
        self.pretrainSamples = pretrainSamples
        self.sftSamples = sftSamples
        self.mmbenchQuestions = mmbenchQuestions
        self.seed = seed
    }
}

/// Writes the synthetic dataset into a folder:
///
///     images/{pretrain,sft}_NNNNNN.png
///     pretrain.json, pretrain_boxes.json     captions (LLaVA JSON, box JSON list keyed by record id)
///     sft.json, sft_boxes.json               per image 3 multiple-choice or short-answer questions, plus as many
///                                            text-only records of 3 option look-ups
///     mmbench_dev.tsv, mmbench_dev_boxes.json MMBench dev format, circular copies at index + k·1e6
///     spec.json                              written last: the folder is complete when it is present
public enum SyntheticDataset {
    public static let specFile = "spec.json"
    public static let mmbenchFile = "mmbench_dev.tsv"
    public static let mmbenchBoxesFile = "mmbench_dev_boxes.json"

    /// The MMBench answer instruction (SPEC §6: the text the eval prompt ends with).
    public static let answerInstruction = "Answer with the option's letter from the given choices directly."
    static let letters = ["A", "B", "C", "D"]

    /// Whether `folder` holds a complete dataset written with `spec`.
    public static func isComplete(_ folder: URL, spec: SyntheticDatasetSpec) -> Bool {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent(specFile)),
            let found = try? JSONDecoder().decode(SyntheticDatasetSpec.self, from: data)
        else { return false }
        return found == spec
    }

    /// Every phrase the generator can emit, for building a vocabulary that tokenises it compactly.
    public static var phrases: [String] {
        var out = [
            "Describe the image briefly.", "What is in the picture?", "Give a short caption.",
            "What colour is the", "What shape is the", "object?", "Answer with a single word.",
            "There is", "There are", "shapes.", "shape.", "on the left and", "on the right.",
            "How many shapes are there?", answerInstruction, "USER:", "ASSISTANT:", "A", "B", "C", "D",
            "A.", "B.", "C.", "D.", "a", "an", "and", "one", "two", "three", "1", "2", "3", "4"
        ]
        out += ["Which option is", "?"]
        out += ShapeKind.allCases.flatMap { [$0.rawValue, $0.rawValue + "?", $0.rawValue + ".", $0.rawValue + "s"] }
        out += ShapeColour.palette.flatMap { [$0.name, $0.name + "."] }
        return out
    }

    /// Every option line the multiple-choice questions can show (`A. red`, `C. triangle`, …).
    public static var optionLines: [String] {
        letters.flatMap { letter in
            (ShapeColour.palette.map(\.name) + ShapeKind.allCases.map(\.rawValue)).map { "\(letter). \($0)" }
        }
    }

    /// Writes everything; returns the number of files written. Deterministic in `spec`.
    @discardableResult
    public static func write(to folder: URL, spec: SyntheticDatasetSpec) throws -> Int {
        let fm = FileManager.default
        let images = folder.appendingPathComponent("images")
        try fm.createDirectory(at: images, withIntermediateDirectories: true)
        try? fm.removeItem(at: folder.appendingPathComponent(specFile))
        var generator = Generator(seed: spec.seed)
        var files = 0

        // Stage 1: captions.
        var pretrain: [[String: Any]] = [], pretrainBoxes: [[String: Any]] = []
        for i in 0..<spec.pretrainSamples {
            let scene = ShapeScene.random(count: 1 + generator.nextInt(below: 2), generator: &generator)
            let id = String(format: "pretrain_%06d", i)
            try scene.render().pngData().write(to: images.appendingPathComponent(id + ".png"))
            files += 1
            let prompts = ["Describe the image briefly.", "What is in the picture?", "Give a short caption."]
            pretrain.append(record(id: id, turns: [(prompts[generator.nextInt(below: prompts.count)], caption(scene))]))
            pretrainBoxes.append(boxJSON(scene, id: id))
        }
        try writeJSON(pretrain, to: folder.appendingPathComponent("pretrain.json"))
        try writeJSON(pretrainBoxes, to: folder.appendingPathComponent("pretrain_boxes.json"))

        // Stage 2: three questions per image, most in the MMBench prompt format, some short-answer; and as many
        // text-only records drilling the option look-up alone ("Which option is red?").
        //
        // Multiple-choice answers name the option, then give its letter ("red C"). Answering with the bare letter
        // needs two attention hops in one position (recognise the colour, then find the option that names it); a
        // 3-layer LLM trained from scratch for a few minutes stays at chance on that (measured: per-row accuracy
        // 28–50 % after 3000 steps), while after the named option the look-up is one hop, learned in ~100 steps
        // on the drills. Upstream's scorer takes the first A–D run of the answer, so "red C" scores as C.
        var sft: [[String: Any]] = [], sftBoxes: [[String: Any]] = []
        for i in 0..<spec.sftSamples {
            let scene = ShapeScene.random(count: 1 + generator.nextInt(below: 2), generator: &generator)
            let id = String(format: "sft_%06d", i)
            try scene.render().pngData().write(to: images.appendingPathComponent(id + ".png"))
            files += 1
            var turns: [(String, String)] = []
            for _ in 0..<3 {
                let q = question(scene, &generator)
                if generator.nextInt(below: 4) == 0 {
                    turns.append((q.text + " Answer with a single word.", q.answer))
                } else {
                    let mc = multipleChoice(q, &generator)
                    turns.append((mc.prompt, "\(q.answer) \(letters[mc.answer])"))
                }
            }
            sft.append(record(id: id, turns: turns))
            sftBoxes.append(boxJSON(scene, id: id))
        }
        let words = ShapeColour.palette.map(\.name) + ShapeKind.allCases.map(\.rawValue)
        for i in 0..<spec.sftSamples {
            var turns: [[String: String]] = []
            for _ in 0..<3 {
                let word = words[generator.nextInt(below: words.count)]
                let pool =
                    ShapeColour.palette.contains { $0.name == word }
                    ? ShapeColour.palette.map(\.name)
                    : ShapeKind.allCases.map(\.rawValue)
                let q = Question(
                    text: "Which option is \(word)?", answer: word, distractors: pool.filter { $0 != word },
                    category: "", l2Category: "")
                let mc = multipleChoice(q, &generator)
                turns += [
                    ["from": "human", "value": mc.prompt], ["from": "gpt", "value": "\(word) \(letters[mc.answer])"]
                ]
            }
            sft.append(["id": String(format: "lookup_%06d", i), "conversations": turns])
        }
        try writeJSON(sft, to: folder.appendingPathComponent("sft.json"))
        try writeJSON(sftBoxes, to: folder.appendingPathComponent("sft_boxes.json"))

        try writeMMBench(to: folder, spec: spec, generator: &generator)
        files += 2
        let specData = try JSONEncoder().encode(spec)
        try specData.write(to: folder.appendingPathComponent(specFile), options: .atomic)
        return files + 5
    }

    // MARK: - Text

    static func caption(_ scene: ShapeScene) -> String {
        let names = scene.shapes.map { "\($0.colour.name) \($0.kind.rawValue)" }
        switch names.count {
        case 1: return "There is a \(names[0])."
        default: return "There is a \(names[0]) on the left and a \(names[1]) on the right."
        }
    }

    /// A question about one shape of the scene, with the right answer and the wrong answers it can be confused with.
    struct Question {
        var text: String
        var answer: String
        var distractors: [String]
        var category: String
        var l2Category: String
    }

    static func question(_ scene: ShapeScene, _ generator: inout Generator) -> Question {
        let shape = scene.shapes[generator.nextInt(below: scene.shapes.count)]
        if generator.nextInt(below: 2) == 0 {
            let others = ShapeColour.palette.map(\.name).filter { $0 != shape.colour.name }
            return Question(
                text: "What colour is the \(shape.kind.rawValue)?", answer: shape.colour.name,
                distractors: others, category: "attribute_recognition", l2Category: "FP-S")
        }
        let others = ShapeKind.allCases.map(\.rawValue).filter { $0 != shape.kind.rawValue }
        return Question(
            text: "What shape is the \(shape.colour.name) object?", answer: shape.kind.rawValue,
            distractors: others, category: "shape_recognition", l2Category: "CP")
    }

    /// Four options in random order: the answer and three distractors. Returns the prompt text (SPEC §6's
    /// layout after `<image>\n`) and the answer's option position.
    static func multipleChoice(
        _ q: Question, _ generator: inout Generator
    )
        -> (prompt: String, options: [String], answer: Int)
    {
        let options = ShapeScene.pick([q.answer] + ShapeScene.pick(q.distractors, 3, &generator), 4, &generator)
        let answer = options.firstIndex(of: q.answer) ?? 0
        return (promptText(question: q.text, options: options), options, answer)
    }

    static func promptText(question: String, options: [String]) -> String {
        var text = question + "\n"
        for (letter, option) in zip(letters, options) { text += "\(letter). \(option)\n" }
        return text + answerInstruction
    }

    static func record(id: String, turns: [(String, String)]) -> [String: Any] {
        var conversations: [[String: String]] = []
        for (i, turn) in turns.enumerated() {
            conversations.append(["from": "human", "value": i == 0 ? "<image>\n" + turn.0 : turn.0])
            conversations.append(["from": "gpt", "value": turn.1])
        }
        return ["id": id, "image": id + ".png", "conversations": conversations]
    }

    static func boxJSON(_ scene: ShapeScene, id: Any) -> [String: Any] {
        [
            "id": id, "boxes": scene.shapes.map(\.box), "labels": scene.shapes.map(\.kind.rawValue),
            "scores": scene.shapes.map { _ in 1.0 }
        ]
    }

    static func writeJSON(_ value: Any, to url: URL) throws {
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]).write(to: url, options: .atomic)
    }

    // MARK: - MMBench TSV

    /// The dev TSV as VLMEvalKit lays it out: main rows at index i, circular copies at i + k·1e6 with the options
    /// rotated by k and the image given as a reference to the main row's index.
    static func writeMMBench(to folder: URL, spec: SyntheticDatasetSpec, generator: inout Generator) throws {
        var lines = ["index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tl2-category\tsplit"]
        var boxes: [[String: Any]] = []
        for i in 0..<spec.mmbenchQuestions {
            let scene = ShapeScene.random(count: 1 + generator.nextInt(below: 2), generator: &generator)
            let q = question(scene, &generator)
            let mc = multipleChoice(q, &generator)
            let image = try scene.render().pngData().base64EncodedString()
            for k in 0..<4 {
                let index = i + k * 1_000_000
                let options = (0..<4).map { mc.options[($0 + k) % 4] }
                let answer = letters[(mc.answer - k + 4) % 4]
                let fields =
                    [String(index), q.text, ""] + options
                    + [answer, q.category, k == 0 ? image : String(i), q.l2Category, "dev"]
                lines.append(fields.map(tsvField).joined(separator: "\t"))
                boxes.append(boxJSON(scene, id: index))
            }
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8)
            .write(to: folder.appendingPathComponent(mmbenchFile), options: .atomic)
        try writeJSON(boxes, to: folder.appendingPathComponent(mmbenchBoxesFile))
    }

    /// pandas-compatible quoting: fields holding a tab, newline or quote are quoted with doubled quotes.
    static func tsvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\"" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
