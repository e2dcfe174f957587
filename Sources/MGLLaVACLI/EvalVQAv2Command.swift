import ArgumentParser
import Foundation
import MGEval
import MGTrain

/// `mgllava eval vqav2`: VQAv2 test-dev (SPEC §6.2) — answers to `llava_vqav2_mscoco_test-dev2015.jsonl`, written
/// as the EvalAI upload file over every id of `llava_vqav2_mscoco_test2015.jsonl` (unanswered ids get "",
/// answers EvalAI-normalised). There is no local score: the file goes to the evaluation server.
struct EvalVQAv2Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqav2",
        abstract: "VQAv2 test-dev: the upload file for the EvalAI server (no local score).")

    @OptionGroup var model: EvalModelOptions

    @Option(help: "Questions to answer (JSON lines), e.g. llava_vqav2_mscoco_test-dev2015.jsonl.")
    var data: String

    @Option(help: "Every test question (JSON lines), e.g. llava_vqav2_mscoco_test2015.jsonl.")
    var testQuestions: String

    @Option(help: "The folder the questions' image paths are relative to (upstream: vqa/vqav2_test2015).")
    var imageFolder: String

    @Option(help: "Eval box JSON keyed by question_id (optional).")
    var boxJson: String?

    func run() throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        func path(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let cfg = try model.resolvedConfig()
        let url = path(data)
        let asked = try EvalQuestions.load(url)
        let all = try EvalQuestions.load(path(testQuestions)).map(\.id)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let prepared = try model.prepare(cfg, boxes: boxes, root: root)
        let (answers, log) = try prepared.answer(asked, file: url, imageFolder: path(imageFolder), suffix: "",
                                                 limit: model.limit)
        var predictions: [String: String] = [:]
        for (q, answer) in zip(asked, answers) { predictions[q.id] = answer }
        let submission: VQAv2Submission
        do {
            submission = try VQAv2Submission(testQuestionIDs: all, predictions: predictions)
        } catch {
            throw UnknownConfig(message: "\(path(testQuestions).path): \(error)")
        }
        let out = prepared.workDir.appendingPathComponent("vqav2_testdev_balanced_predictions.json")
        try submission.jsonData.write(to: out, options: .atomic)
        print("\(submission.entries.count) entries (\(submission.unanswered.count) unanswered test ids left empty, "
              + "\(submission.unused.count) answers to ids outside the test file dropped)")
        print("VQAv2 has no local score: upload \(out.path) to the EvalAI server")
        print("outputs:\n  results     \(out.path)\n  results     \(log.url.path)")
    }
}
