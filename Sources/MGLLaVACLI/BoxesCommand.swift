import ArgumentParser
import Foundation
import MGEval
import MGLLaVA

/// `mgllava boxes`: upstream's box JSON for an image or a dataset, made by OWLv2 in Swift (what
/// `mg_llava/bbox_generation/image_offline_to_bbox.py` does in Python, with the given tags in place of RAM++'s).
struct BoxesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxes",
        abstract: "Detect boxes with OWLv2 and write upstream's box JSON (one image, a LLaVA JSON/JSONL or a TSV).",
        discussion: """
            Results are appended to <out>.partial.jsonl as they are produced; a rerun with the same settings resumes
            there, and the box JSON is written (atomically) when every image is done. Ctrl-C stops after the current
            image. Without --queries/--queries-file the 80 COCO names are the tags (docs/boxes.md).
            """)

    @OptionGroup var detection: DetectorOptions
    @Option(help: "One image.") var image: String?
    @Option(help: "The image's id in the output (default: the file name without extension).") var id: String?
    @Option(help: "A LLaVA JSON/JSONL file (with --image-folder) or a multiple-choice TSV with base64 images.")
    var data: String?
    @Option(help: "The folder a LLaVA file's image paths are relative to.") var imageFolder: String?
    @Option(help: "The box JSON to write.") var out: String
    @Flag(help: "On a rerun, try the images that failed before again.") var retryFailures = false

    func validate() throws {
        if detection.detector == nil { throw ValidationError("--detector DIR (an HF OWLv2 folder) is required") }
        if (image == nil) == (data == nil) { throw ValidationError("give either --image or --data") }
        if id != nil && image == nil { throw ValidationError("--id goes with --image") }
        if imageFolder != nil && data == nil { throw ValidationError("--image-folder goes with --data") }
    }

    func run() throws {
        let plan = try BoxGenerationPlan.load(
            try BoxGenerationSource.detect(
                URL(fileURLWithPath: image ?? data ?? ""), imageFolder: imageFolder.map { URL(fileURLWithPath: $0) },
                id: id.map { .string($0) }))
        let queries = try detection.detectionQueries()
        guard let loaded = try detection.loadDetector() else { return }
        print(
            "\(plan.items.count) images (\(plan.ids.count) ids) from \(plan.source.file.path); "
                + "\(loaded.tagSummary(queries)), threshold \(queries.threshold), \(loaded.description)")
        if plan.skippedRecords > 0 { print("\(plan.skippedRecords) records without an image skipped") }
        InterruptFlag.install()
        let progress = RowProgress()
        let run = BoxGenerationRun(
            plan: plan, output: URL(fileURLWithPath: out), queries: queries,
            detectorName: loaded.name, retryFailures: retryFailures)
        let summary = try run.run(
            detector: loaded.detector, progress: { progress.update($0.done, $0.total) },
            shouldStop: { InterruptFlag.isSet })
        if summary.resumedIDs > 0 { print("resumed: \(summary.resumedIDs) ids were already done") }
        if summary.droppedLogLines > 0 { print("\(summary.droppedLogLines) torn log lines redone") }
        for failure in summary.failures.prefix(20) { print("failed: id \(failure.id): \(failure.reason)") }
        if summary.failures.count > 20 { print("… and \(summary.failures.count - 20) more failures") }
        print("\(summary.boxes) boxes for \(summary.ids) ids (\(summary.detected) images detected in this run)")
        if let output = summary.output {
            print("wrote \(output.path)")
        } else if let log = summary.log {
            print("stopped early: the results so far are in \(log.path); run again to finish")
        }
        if !summary.failures.isEmpty {
            print("\(summary.failures.count) ids failed; rerun with --retry-failures to try them again")
        }
    }
}
