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

    func validate() throws {
        if queries != nil && queriesFile != nil { throw ValidationError("give tags with --queries or --queries-file") }
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

    /// The detector, when `--detector` is given; truncated queries are reported once each on standard error.
    func loadDetector() throws -> OWLv2Detector? {
        guard let detector else { return nil }
        let loaded = try OWLv2Detector.load(directory: URL(fileURLWithPath: detector))
        loaded.onTruncatedQuery = { text, length in
            FileHandle.standardError.write(
                Data("note: query \"\(text)\" is longer than \(length) tokens; cut to \(length)\n".utf8))
        }
        return loaded
    }
}
