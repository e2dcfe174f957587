import ArgumentParser
import Foundation
import MGLLaVA

/// The detector flags `boxes`, `chat` and `eval` share: the OWLv2 folder and what it looks for.
struct DetectorOptions: ParsableArguments {
    @Option(help: "HF OWLv2 folder (google/owlv2-large-patch14-ensemble as upstream) to make boxes with.")
    var detector: String?
    @Option(help: "Tags to look for, comma-separated (default: the 80 COCO names; see docs/boxes.md).")
    var queries: String?
    @Option(help: "File of tags, one per line or comma-separated (e.g. RAM's tag list).") var queriesFile: String?
    @Option(help: "Query text for each tag; {} is the tag.") var queryTemplate: String = DetectionQueries
        .upstreamTemplate
    @Option(help: "Keep boxes scoring above this (upstream: 0.2).") var threshold: Float = 0.2
    @Option(
        help: """
            RAM++ checkpoint (ram_plus_swin_large_14m.pth, or its folder) that chooses each image's tags before \
            OWLv2, as upstream does (instead of --queries).
            """)
    var tagger: String?
    @Option(help: "RAM++'s tag list (default: ram_tag_list.txt beside the --tagger checkpoint).") var tagList: String?
    @Option(help: "RAM++'s per-tag thresholds (default: ram_tag_list_threshold.txt beside the checkpoint).")
    var tagThresholds: String?

    func validate() throws {
        if queries != nil && queriesFile != nil { throw ValidationError("give tags with --queries or --queries-file") }
        if tagger != nil && (queries != nil || queriesFile != nil) {
            throw ValidationError("--tagger chooses the tags: leave out --queries and --queries-file")
        }
        if tagger != nil && detector == nil { throw ValidationError("--tagger goes with --detector (OWLv2)") }
        if tagger == nil && (tagList != nil || tagThresholds != nil) {
            throw ValidationError("--tag-list and --tag-thresholds go with --tagger")
        }
        if !(threshold.isFinite && threshold >= 0 && threshold < 1) {
            throw ValidationError("--threshold \(threshold): must be in [0, 1)")
        }
        if !queryTemplate.contains("{}") {
            throw ValidationError("--query-template \"\(queryTemplate)\": must contain {} where the tag goes")
        }
        if let queries, DetectionQueries.parseTags(queries).isEmpty {
            throw ValidationError("--queries \"\(queries)\": holds no tags")
        }
    }

    /// The tags, template and threshold the flags give.
    func detectionQueries() throws -> DetectionQueries {
        let tags: [String]
        if let queries {
            tags = DetectionQueries.parseTags(queries)
        } else if let queriesFile {
            tags = try DetectionQueries.loadTags(contentsOf: URL(fileURLWithPath: queriesFile))
        } else {
            tags = DetectionQueries.defaultTags
        }
        return DetectionQueries(tags: tags, template: queryTemplate, threshold: threshold)
    }

    /// The detector, when `--detector` is given (with RAM++ in front of it when `--tagger` is); truncated queries
    /// are reported once each on standard error, and with `reportTags` each image's RAM++ tags.
    func loadDetector(reportTags: Bool = false) throws -> LoadedDetector? {
        guard let detector else { return nil }
        let owl = try OWLv2Detector.load(directory: URL(fileURLWithPath: detector))
        owl.onTruncatedQuery = { text, length in
            FileHandle.standardError.write(
                Data("note: query \"\(text)\" is longer than \(length) tokens; cut to \(length)\n".utf8))
        }
        let owlPath = owl.directory.standardizedFileURL.path
        guard let tagger else { return LoadedDetector(detector: owl, name: owlPath, description: "OWLv2 \(owlPath)") }
        let ram = try RAMPlusTagger.load(
            URL(fileURLWithPath: tagger), tagList: tagList.map { URL(fileURLWithPath: $0) },
            thresholds: tagThresholds.map { URL(fileURLWithPath: $0) })
        if !ram.unusedKeys.isEmpty {
            FileHandle.standardError.write(
                Data(
                    "note: \(ram.unusedKeys.count) keys of \(ram.checkpoint.path) are not RAM++'s and were not read\n"
                        .utf8))
        }
        let ramPath = ram.checkpoint.standardizedFileURL.path
        let tagged = TaggedBoxDetector(tagger: ram, detector: owl)
        if reportTags {
            tagged.onTagging = { tagging, _ in
                FileHandle.standardError.write(Data("note: RAM++ tags: \(tagging.tagString)\n".utf8))
            }
        }
        return LoadedDetector(
            detector: tagged, name: "\(ramPath) -> \(owlPath)",
            description: "RAM++ \(ramPath) (\(ram.vocabulary.tags.count) tags) -> OWLv2 \(owlPath)")
    }
}

/// A loaded detector and how to name it.
struct LoadedDetector {
    let detector: any BoxDetector
    /// What identifies its results (a box-generation run resumes only with the same name).
    let name: String
    /// For messages.
    let description: String

    /// How its tags are chosen, for messages.
    func tagSummary(_ queries: DetectionQueries) -> String {
        detector.choosesTags ? "tags from RAM++" : "\(queries.tags.count) tags"
    }
}
