import Foundation
import MGCheckpoint
import MGDetect
import MGTestSupport
import XCTest

@testable import MGLLaVA

/// RAM++ as MG-LLaVA's box generation runs it, against recognize-anything's code on the tiny fixture model
/// (Tests/Fixtures/ram): `get_transform` on the decoded files, the tag strings of `inference_ram`, upstream's
/// parsing of them, and the whole RAM++ → OWLv2 step (`image_offline_to_bbox.py`) with the tiny OWLv2.
final class RAMPlusTaggerTests: XCTestCase {
    struct Reference: Decodable {
        struct Image: Decodable {
            var name: String
            var file: String
            var tags: String
            var queries: [String]
            var boxes: [[Int]]
            var scores: [Double]
            var labels: [String]
            var boxes_0_6: [[Int]]
            var scores_0_6: [Double]
            var labels_0_6: [String]
        }
        var images: [Image]
    }

    static let folder = "ram/ram-plus-tiny"

    func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url("ram/reference.json")))
    }

    func tensors() throws -> SafeTensorsFile { try SafeTensorsFile(url: Fixtures.url("ram/reference.safetensors")) }

    func decode(_ image: Reference.Image) throws -> RGBImage {
        try ImageDecoder.decode(contentsOf: Fixtures.url("ram/\(image.file)"))
    }

    func testPreprocessingIsTorchvisionOnPillow() throws {
        let tagger = try RAMPlusTagger.load(Fixtures.url(Self.folder))
        let ref = try tensors()
        for image in try reference().images {
            let decoded = try decode(image)
            let resized = decoded.resized(width: 224, height: 224, filter: .bilinear)
            let expected = try ref.tensor("\(image.name).resized")
            XCTAssertEqual(expected.shape, [224, 224, 3])
            XCTAssertEqual(resized.pixels, expected.toArray().map { UInt8($0) }, "\(image.name): Pillow's resize")
            if ref.keys.contains("\(image.name).pixel_values") {
                let pixels = tagger.preprocess(decoded)
                let r = compare(pixels, try ref.tensor("\(image.name).pixel_values"), atol: 0, rtol: 0)
                XCTAssertTrue(r.ok, "\(image.name) pixel_values: \(r.message)")
            }
        }
    }

    func testTagsAndLogitsMatchUpstream() throws {
        let tagger = try RAMPlusTagger.load(Fixtures.url(Self.folder))
        XCTAssertEqual(tagger.vocabulary.tags.count, 10)
        XCTAssertEqual(tagger.unusedKeys, [])
        let ref = try tensors()
        var tagStrings = Set<String>()
        for image in try reference().images {
            let decoded = try decode(image)
            let logits = withNoGrad { tagger.model.forward(tagger.preprocess(decoded)).logits }
            let r = compare(logits, try ref.tensor("\(image.name).logits"), atol: 1e-4, rtol: 1e-4)
            XCTAssertTrue(r.ok, "\(image.name) logits: \(r.message)")
            let tagging = tagger.tag(decoded)
            XCTAssertEqual(tagging.tagString, image.tags, image.name)
            XCTAssertEqual(DetectionQueries.ramTags(tagging.tagString), image.queries, image.name)
            tagStrings.insert(tagging.tagString)
        }
        XCTAssertEqual(tagStrings.count, 7, "the fixture images get different tag sets")
    }

    func testTheWholeBoxPipelineMatchesUpstream() throws {
        let detector = TaggedBoxDetector(
            tagger: try RAMPlusTagger.load(Fixtures.url(Self.folder)),
            detector: try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny")))
        var seen: [String] = []
        detector.onTagging = { _, tags in seen = tags }
        var compared = 0
        for image in try reference().images {
            let decoded = try decode(image)
            for (threshold, boxes, scores, labels) in [
                (Float(0.2), image.boxes, image.scores, image.labels),
                (0.6, image.boxes_0_6, image.scores_0_6, image.labels_0_6)
            ] {
                // The queries' tags are not used: RAM++ chooses them.
                let found = try detector.detect(
                    decoded, queries: DetectionQueries(tags: ["ignored"], threshold: threshold))
                XCTAssertEqual(seen, image.queries, image.name)
                XCTAssertEqual(found.map(\.box), boxes, "\(image.name) at \(threshold)")
                XCTAssertEqual(found.map(\.label), labels, "\(image.name) at \(threshold)")
                XCTAssertEqual(found.count, scores.count)
                for (a, b) in zip(found.map(\.score), scores) { XCTAssertEqual(Double(a), b, accuracy: 1e-5) }
                compared += found.count
            }
        }
        XCTAssertGreaterThan(compared, 500)
    }

    func testUpstreamsTagParsing() {
        // res.replace(' |', ',').lower().strip().split(','), each stripped — as Python computes these.
        XCTAssertEqual(DetectionQueries.ramTags("cat | Teddy Bear | t-shirt"), ["cat", "teddy bear", "t-shirt"])
        XCTAssertEqual(DetectionQueries.ramTags(""), [""])
        XCTAssertEqual(DetectionQueries.ramTags("a | b,c"), ["a", "b", "c"])
        XCTAssertEqual(DetectionQueries.ramTags("a|b | "), ["a|b", ""])
        XCTAssertEqual(DetectionQueries.ramTags(" Café  |  ÉCOLE "), ["café", "école"])
        // A combining mark after the comma does not stop the split (Python works on code points).
        XCTAssertEqual(DetectionQueries.ramTags("a,\u{301}b"), ["a", "\u{301}b"])
    }

    func testTagListLinesSplitAsPython() {
        XCTAssertEqual(RAMTagVocabulary.splitLines("a\r\nb\rc\u{2028}d\ne\n"), ["a", "b", "c", "d", "e"])
        XCTAssertEqual(RAMTagVocabulary.splitLines("a\n\nb"), ["a", "", "b"])
        XCTAssertEqual(RAMTagVocabulary.splitLines("x"), ["x"])
    }

    // MARK: - Bad vocabulary files

    func copyOfTinyFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("ram")
        try FileManager.default.copyItem(at: Fixtures.url(Self.folder), to: target)
        return target
    }

    func assertLoadFails(_ folder: URL, mentions parts: [String], line: UInt = #line) {
        XCTAssertThrowsError(try RAMPlusTagger.load(folder), line: line) { error in
            for part in parts { XCTAssertTrue("\(error)".contains(part), "\(error) lacks \(part)", line: line) }
        }
    }

    func testMissingThresholdsAreNamed() throws {
        let folder = try copyOfTinyFolder()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("ram_tag_list_threshold.txt"))
        assertLoadFails(folder, mentions: ["ram_tag_list_threshold.txt", "missing"])
    }

    func testThresholdCountMustMatchTheTagList() throws {
        let folder = try copyOfTinyFolder()
        try "0.5\n0.5\n".write(
            to: folder.appendingPathComponent("ram_tag_list_threshold.txt"), atomically: true, encoding: .utf8)
        assertLoadFails(folder, mentions: ["2 lines", "10 tags", "ram_tag_list_threshold.txt", "ram_tag_list.txt"])
    }

    func testANonNumericThresholdNamesItsLine() throws {
        let folder = try copyOfTinyFolder()
        let file = folder.appendingPathComponent("ram_tag_list_threshold.txt")
        var lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[3] = "high"
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        assertLoadFails(folder, mentions: ["line 4", "\"high\""])
    }

    func testATagListOfAnotherLengthIsNamed() throws {
        let folder = try copyOfTinyFolder()
        let list = folder.appendingPathComponent("ram_tag_list.txt")
        try (String(contentsOf: list, encoding: .utf8) + "\nextra").write(to: list, atomically: true, encoding: .utf8)
        try (String(repeating: "0.5\n", count: 11)).write(
            to: folder.appendingPathComponent("ram_tag_list_threshold.txt"), atomically: true, encoding: .utf8)
        assertLoadFails(folder, mentions: ["11 tags", "510 rows", "label_embed"])
    }

    func testARAMCheckpointIsNamedNotBlamedOnTheTagList() throws {
        // Plain RAM: one label_embed row per tag and no reweight_scale.
        let folder = try copyOfTinyFolder()
        let pth = folder.appendingPathComponent("ram_plus_tiny.pth")
        var state = try Checkpoint.open(pth).loadAll(copy: true)
        state["reweight_scale"] = nil
        state["label_embed"] = Tensor.zeros([10, 512])
        try FileManager.default.removeItem(at: pth)
        try SafeTensorsWriter.write(
            state.mapValues { $0.dtype == .int64 ? $0 : $0.float() },
            to: folder.appendingPathComponent("ram.safetensors"))
        assertLoadFails(folder, mentions: ["not RAM++", "reweight_scale"])
    }

    func testHalfAConfigurationIsRefused() throws {
        let folder = try copyOfTinyFolder()
        try FileManager.default.removeItem(at: folder.appendingPathComponent("q2l_config.json"))
        assertLoadFails(folder, mentions: ["config_swin.json", "q2l_config.json"])
    }

    func testTheReleasedArchitectureIsTheDefault() throws {
        // Without the two config files, the tiny checkpoint is read as swin_l 384 and refused by name.
        let folder = try copyOfTinyFolder()
        for name in ["q2l_config.json", "config_swin.json"] {
            try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
        assertLoadFails(folder, mentions: ["patch_embed.proj.weight", "embed_dim 192"])
    }
}
