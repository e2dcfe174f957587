// MGEval — the generation loop of the open-ended benchmarks (POPE, TextVQA, GQA, VQAv2; SPEC §6): like the
// multiple-choice loop, batch size 1, `<image>\n` + the question text + the benchmark's suffix in the template's
// instruction, greedy decoding, the answer decoded without special tokens and stripped.
import Foundation
import MGData
import MGLLaVA

public struct OpenEndedEvaluator {
    public let generator: MultipleChoiceEvaluator
    public let imageFolder: URL
    /// Appended to every question (SPEC §6 table): "\nPlease answer the question with yes or no." for POPE,
    /// "\nAnswer the question using a single word or phrase." for DocVQA/OCRVQA/ChartQA, nothing for the
    /// LLaVA-eval JSONLs that already hold their instruction.
    public let suffix: String

    public init(generator: MultipleChoiceEvaluator, imageFolder: URL, suffix: String) {
        self.generator = generator
        self.imageFolder = imageFolder
        self.suffix = suffix
    }

    /// The prompt text of a question (what goes after `<image>\n`).
    public func promptText(_ question: EvalQuestion) -> String { question.text + suffix }

    /// The answer to one question. Boxes are looked up by `question_id` (upstream keys eval box JSONs by it).
    public func predict(_ question: EvalQuestion) throws -> String {
        let url = imageFolder.appendingPathComponent(question.image)
        let image = try ImageDecoder.decode(contentsOf: url)
        let record: BoxRecord?
        if let boxes = generator.boxes {
            guard let found = try? boxes.record(for: question.id) else {
                throw MissingEvalBoxes(dataset: imageFolder.path, index: Int(question.id) ?? -1)
            }
            record = found
        } else {
            record = nil
        }
        let visual = try VisualInputs.prepare(image, boxes: record, processor: generator.processor,
                                              boxConfig: generator.boxConfig)
        let session = ChatSession(model: generator.model, tokenizer: generator.tokenizer, template: generator.template,
                                  visual: visual)
        let reply = try session.send(promptText(question), maxNewTokens: generator.maxNewTokens, sampling: .greedy)
        return reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Answers for `questions` (the first `limit`), logged under their position in the file so a rerun resumes;
    /// a question whose image or boxes cannot be used is recorded as skipped with an empty answer.
    public func predictAll(_ questions: [EvalQuestion], limit: Int? = nil, log: PredictionLog? = nil,
                           onRow: (Int, Int) -> Void = { _, _ in }) throws -> [String] {
        let rows = limit.map { Array(questions.prefix($0)) } ?? questions
        var answers: [String] = []
        var failures = 0, firstFailure: String?
        for (position, question) in rows.enumerated() {
            if let earlier = log?.entries[position] {
                answers.append(earlier.prediction)
                onRow(position + 1, rows.count)
                continue
            }
            var entry: PredictionLog.Entry
            do {
                entry = PredictionLog.Entry(index: position, prediction: try withNoGrad { try predict(question) })
            } catch {
                failures += 1
                firstFailure = firstFailure ?? "question \(question.id): \(error)"
                entry = PredictionLog.Entry(index: position, prediction: "", skipped: "question \(question.id): \(error)")
            }
            try log?.record(entry)
            answers.append(entry.prediction)
            onRow(position + 1, rows.count)
        }
        if failures == rows.count && !rows.isEmpty {
            throw EveryRowFailed(dataset: imageFolder.path, rows: rows.count, first: firstFailure ?? "")
        }
        return answers
    }
}
