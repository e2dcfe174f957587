// MGEval — the generation loop of the open-ended benchmarks (POPE, TextVQA, GQA, VQAv2; SPEC §6): like the
// multiple-choice loop, batch size 1, `<image>\n` + the question text + the benchmark's suffix in the template's
// instruction, greedy decoding, the answer decoded without special tokens and stripped.
import Foundation
import MGData
import MGLLaVA

/// An open-ended question file (POPE, TextVQA, GQA, VQAv2) through the shared evaluation loop: each question's
/// image from the image folder, its boxes by `question_id`, its text plus the benchmark's suffix.
public struct OpenEndedEvaluator {
    public let loop: EvaluationLoop
    /// The eval box JSON keyed by `question_id` (nil: every image gets upstream's dummy box).
    public let boxes: BoxIndex?
    public let imageFolder: URL
    /// Appended to every question (SPEC §6 table): "\nPlease answer the question with yes or no." for POPE,
    /// "\nAnswer the question using a single word or phrase." for DocVQA/OCRVQA/ChartQA, nothing for the
    /// LLaVA-eval JSONLs that already hold their instruction.
    public let suffix: String

    public init(pipeline: InferencePipeline, boxes: BoxIndex?, maxNewTokens: Int, imageFolder: URL, suffix: String) {
        loop = EvaluationLoop(pipeline: pipeline, maxNewTokens: maxNewTokens)
        self.boxes = boxes
        self.imageFolder = imageFolder
        self.suffix = suffix
    }

    /// The prompt text of a question (what goes after `<image>\n`).
    public func promptText(_ question: EvalQuestion) -> String { question.text + suffix }

    /// The loop's item for a question at `position` in its file (the prediction log's key). Boxes are looked up by
    /// `question_id` (upstream keys eval box JSONs by it).
    public func item(_ question: EvalQuestion, position: Int) -> EvaluationItem {
        EvaluationItem(logIndex: position, name: "question \(question.id)", prompt: promptText(question)) {
            let image = try ImageDecoder.decode(contentsOf: imageFolder.appendingPathComponent(question.image))
            let record = try boxes.flatMap { boxes -> BoxRecord? in
                if let found = try? boxes.record(for: question.id) { return found }
                if loop.pipeline.detector != nil { return nil }  // the detector makes them
                throw MissingEvalBoxes(dataset: imageFolder.path, index: Int(question.id) ?? -1)
            }
            return (image, try loop.pipeline.boxes(record, orDetectIn: image, id: .string(question.id)))
        }
    }

    /// The answer to one question.
    public func predict(_ question: EvalQuestion) throws -> String { try loop.answer(item(question, position: 0)) }

    /// Answers for `questions` (the first `limit`) in their order, through `EvaluationLoop.run`.
    public func predictAll(
        _ questions: [EvalQuestion], limit: Int? = nil, log: PredictionLog? = nil,
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> [String] {
        let rows = limit.map { Array(questions.prefix($0)) } ?? questions
        let answers = try loop.run(
            rows.enumerated().map { item($1, position: $0) }, dataset: imageFolder.path,
            log: log, onRow: onRow)
        return rows.indices.map { answers[$0] ?? "" }
    }
}
