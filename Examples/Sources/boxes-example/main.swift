// boxes-example: upstream's box generation for one image through the library — RAM++ chooses the tags, OWLv2 finds
// them — printed as the box JSON record `mgllava boxes --tagger … --detector …` writes.
//
//   boxes-example --tagger ram_plus_swin_large_14m.pth --detector owlv2-large-patch14-ensemble --image photo.jpg
import ArgumentParser
import Foundation
import MGLLaVA

struct BoxesExample: ParsableCommand {
    @Option(help: "RAM++ checkpoint (ram_tag_list.txt and ram_tag_list_threshold.txt beside it).") var tagger: String
    @Option(help: "HF OWLv2 folder.") var detector: String
    @Option(help: "The image.") var image: String
    @Option(help: "Keep boxes scoring above this (upstream: 0.2).") var threshold: Float = 0.2

    func run() throws {
        let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))

        // RAM++ (Swin-L image encoder, description re-weighting, tagging head) with its tag vocabulary, and OWLv2
        // with its tokenizer and image processor; `TaggedBoxDetector` runs them as upstream's script does.
        let ram = try RAMPlusTagger.load(URL(fileURLWithPath: tagger))
        let owl = try OWLv2Detector.load(directory: URL(fileURLWithPath: detector))
        let pipeline = TaggedBoxDetector(tagger: ram, detector: owl)
        pipeline.onTagging = { tagging, tags in
            FileHandle.standardError.write(Data("RAM++: \(tagging.tagString) -> queries \(tags)\n".utf8))
        }

        // The tags of `DetectionQueries` are not used here (RAM++ chooses them); its template and threshold are.
        let found = try pipeline.detect(picture, queries: DetectionQueries(tags: [], threshold: threshold))
        let id = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
        let record = BoxRecord(id: .string(id), detections: found)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode([record]), as: UTF8.self))
    }
}

BoxesExample.main()
