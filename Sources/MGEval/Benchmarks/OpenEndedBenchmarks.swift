import Foundation
import MGData

/// POPE (SPEC §6.2): each file's questions plus "\nPlease answer the question with yes or no.", upstream's yes/no
/// extraction, accuracy / precision / recall / F1 per file (the split is the file's base name) and the mean F1.
public enum POPEEvaluation {
    public static let questionSuffix = "\nPlease answer the question with yes or no."

    public static func run(
        _ context: EvaluationContext, files: [URL], imageFolder: URL, boxes: BoxIndex?,
        onFile: (String, Int, PredictionLog) -> Void = { _, _, _ in },
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> (scores: POPEScores, outputs: EvaluationOutputs) {
        var samples: [POPESample] = []
        var skipped = 0
        for url in files {
            let questions = try EvalQuestions.load(url)
            for q in questions where q.label == nil {
                throw EvalError.invalidValue(
                    file: url.path, line: q.line, column: "label", value: nil,
                    problem: "question \(q.id) has no \"label\"")
            }
            let split = url.deletingPathExtension().lastPathComponent
            let (answers, log) = try context.answer(
                questions, file: url, imageFolder: imageFolder, suffix: questionSuffix,
                boxes: boxes, onLog: { onFile(split, questions.count, $0) }, onRow: onRow)
            skipped += log.skipped.count
            for (q, answer) in zip(questions, answers) {
                samples.append(POPESample(questionID: q.id, split: split, label: q.label ?? "", prediction: answer))
            }
        }
        let scores = try POPEScorer.evaluate(samples)
        let out = try context.writeJSON(scores, name: "pope-results.json")
        return (scores, EvaluationOutputs(files: [out], skipped: skipped))
    }
}

/// TextVQA val (SPEC §6.2): the questions as stored in LLaVA's `llava_textvqa_val_v051_ocr.jsonl` (they hold the OCR
/// reference and the instruction), matched to `TextVQA_0.5.1_val.json` as upstream matches them, VQA soft accuracy.
public enum TextVQAEvaluation {
    public static func run(
        _ context: EvaluationContext, questions file: URL, annotations: URL, imageFolder: URL,
        boxes: BoxIndex?, onLog: (PredictionLog) -> Void = { _ in },
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws
        -> (score: VQAAccuracyResult, questions: Int, outputs: EvaluationOutputs)
    {
        let questions = try EvalQuestions.load(file)
        let references: [TextVQAAnnotation]
        do {
            references = try TextVQAMatching.parseAnnotations(try Data(contentsOf: annotations))
        } catch let error as ScorerError {
            throw EvalError.unreadable(file: annotations.path, detail: "\(error)")
        } catch {
            throw EvalError.unreadable(file: annotations.path, detail: DataError.plainReason(error))
        }
        let (answers, log) = try context.answer(
            questions, file: file, imageFolder: imageFolder, suffix: "", boxes: boxes,
            onLog: onLog, onRow: onRow)
        let results = zip(questions, answers).map { (questionID: $0.id, prompt: $0.text, prediction: $1) }
        let entries = try TextVQAMatching.entries(results: results, annotations: references)
        let score = try VQAAccuracy.evaluate(entries)
        let out = try context.writeJSON(score, name: "\(file.deletingPathExtension().lastPathComponent)-results.json")
        return (score, entries.count, EvaluationOutputs(files: [out, log.url], skipped: log.skipped.count))
    }
}

/// GQA testdev-balanced (SPEC §6.2): answers normalised as upstream (`rstrip('.').lower()`), upstream's prediction
/// file, and `eval_gqa`'s accuracy, binary/open, distribution and breakdowns. A `limit` run scores what it answered.
public enum GQAEvaluation {
    public static func run(
        _ context: EvaluationContext, questions file: URL, official: URL, imageFolder: URL,
        boxes: BoxIndex?, onLog: (PredictionLog) -> Void = { _ in },
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> (scores: GQAScores, outputs: EvaluationOutputs) {
        let asked = try EvalQuestions.load(file)
        let questions: [GQAQuestion]
        do {
            questions = try GQAScorer.parseQuestions(try Data(contentsOf: official))
        } catch {
            throw EvalError.unreadable(
                file: official.path, detail: "\(error is ScorerError ? "\(error)" : DataError.plainReason(error))")
        }
        let (answers, log) = try context.answer(
            asked, file: file, imageFolder: imageFolder, suffix: "", boxes: boxes,
            onLog: onLog, onRow: onRow)
        let predictions = GQAScorer.predictions(zip(asked, answers).map { (questionID: $0.id, text: $1) })
        // Upstream's upload/eval file: [{"questionId", "prediction"}] in question order.
        let rows = asked.prefix(answers.count).map { ["questionId": $0.id, "prediction": predictions[$0.id] ?? ""] }
        let predictionsURL = context.workDir.appendingPathComponent("testdev_balanced_predictions.json")
        do {
            try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]).write(
                to: predictionsURL, options: .atomic)
        } catch {
            throw EvalError.writeFailed(file: predictionsURL.path, detail: DataError.plainReason(error))
        }
        let scores = try GQAScorer.evaluate(
            questions: questions, predictions: predictions,
            requireAllPredictions: context.limit == nil)
        let out = try context.writeJSON(scores, name: "gqa-results.json")
        return (scores, EvaluationOutputs(files: [out, predictionsURL, log.url], skipped: log.skipped.count))
    }
}

/// VQAv2 test-dev (SPEC §6.2): no local score; the upload file over every test question id, in the test file's
/// order, answers normalised as the EvalAI server expects, "" where unanswered.
public enum VQAv2Evaluation {
    public static func run(
        _ context: EvaluationContext, questions file: URL, testQuestions: URL, imageFolder: URL,
        boxes: BoxIndex?, onLog: (PredictionLog) -> Void = { _ in },
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws
        -> (submission: VQAv2Submission, outputs: EvaluationOutputs)
    {
        let asked = try EvalQuestions.load(file)
        let all = try EvalQuestions.load(testQuestions).map(\.id)
        let (answers, log) = try context.answer(
            asked, file: file, imageFolder: imageFolder, suffix: "", boxes: boxes,
            onLog: onLog, onRow: onRow)
        var predictions: [String: String] = [:]
        for (q, answer) in zip(asked, answers) { predictions[q.id] = answer }
        let submission: VQAv2Submission
        do {
            submission = try VQAv2Submission(testQuestionIDs: all, predictions: predictions)
        } catch {
            throw EvalError.unreadable(file: testQuestions.path, detail: "\(error)")
        }
        let out = context.workDir.appendingPathComponent("vqav2_testdev_balanced_predictions.json")
        do { try submission.jsonData.write(to: out, options: .atomic) } catch {
            throw EvalError.writeFailed(file: out.path, detail: DataError.plainReason(error))
        }
        return (submission, EvaluationOutputs(files: [out, log.url], skipped: log.skipped.count))
    }
}

/// MME (SPEC §6.2): `MMEDataset`'s rows through the loop, upstream's extraction and rating.
public enum MMEEvaluation {
    public static func run(
        _ context: EvaluationContext, data: URL, boxes: BoxIndex?,
        onLog: (PredictionLog) -> Void = { _ in },
        onRow: (Int, Int) -> Void = { _, _ in }
    ) throws -> (scores: MMEScores, outputs: EvaluationOutputs) {
        let dataset = try MMEDataset.load(data)
        let name = data.deletingPathExtension().lastPathComponent
        let log = try context.openLog(for: data, name: name)
        onLog(log)
        let answers = try context.loop.run(
            dataset.items(limit: context.limit, boxes: boxes), dataset: data.path,
            log: log, onRow: onRow)
        let scores = try MMEScorer.evaluate(dataset.samples(answers: answers, limit: context.limit))
        let out = try context.writeJSON(scores, name: "\(name)-results.json")
        return (scores, EvaluationOutputs(files: [out, log.url], skipped: log.skipped.count))
    }
}
