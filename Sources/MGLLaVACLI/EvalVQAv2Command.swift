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
        let context = try model.prepare(try model.resolvedConfig(), root: root)
        let boxes = try boxJson.map { try BoxIndex.load(contentsOf: path($0)) }
        let progress = RowProgress()
        let (submission, outputs) = try VQAv2Evaluation.run(
            context, questions: path(data), testQuestions: path(testQuestions), imageFolder: path(imageFolder),
            boxes: boxes, onLog: announce, onRow: progress.update)
        print(
            "\(submission.entries.count) entries (\(submission.unanswered.count) unanswered test ids left empty, "
                + "\(submission.unused.count) answers to ids outside the test file dropped)")
        print("VQAv2 has no local score: upload \(outputs.files[0].path) to the EvalAI server")
        try printOutputs(outputs.files, context)
    }
}
