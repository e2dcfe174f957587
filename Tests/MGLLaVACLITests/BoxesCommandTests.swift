import Foundation
import MGData
import MGTestSupport
import XCTest

/// `mgllava boxes` with the tiny OWLv2 folder on the fixture PNGs: the box JSON equals what transformers 4.44.2's
/// Owlv2Processor + model + post_process_object_detection + `.int()` gave for the same files (decoded by PIL).
final class BoxesCommandTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws { dir = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    struct Reference: Decodable {
        struct Result: Decodable {
            var threshold: Double
            var boxes: [[Int]]
            var scores: [Double]
            var labels: [String]
        }
        struct Image: Decodable { var results: [Result] }
        var tags: [String]
        var images: [String: Image]
    }

    func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Fixtures.url("owlv2/reference.json")))
    }

    func arguments(_ tags: [String]) -> [String] {
        ["boxes", "--detector", Fixtures.url("owlv2/owlv2-tiny").path, "--queries", tags.joined(separator: ",")]
    }

    func check(_ record: BoxRecord, against expected: Reference.Result, _ name: String) {
        XCTAssertEqual(record.boxes, expected.boxes.map { $0.map(Double.init) }, name)
        XCTAssertEqual(record.labels, expected.labels, name)
        XCTAssertEqual(record.scores.count, expected.scores.count, name)
        for (a, b) in zip(record.scores, expected.scores) { XCTAssertEqual(a, b, accuracy: 1e-5, name) }
    }

    func testOneImageMatchesTransformers() throws {
        let ref = try reference()
        let out = dir.appendingPathComponent("landscape-boxes.json")
        let result = try runCLI(
            arguments(ref.tags) + [
                "--image", Fixtures.url("owlv2/images/landscape.png").path, "--out", out.path
            ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("wrote \(out.path)"), result.stdout)
        let boxes = try BoxIndex.load(contentsOf: out)
        XCTAssertEqual(Array(boxes.records.keys), ["landscape"])
        let expected = try XCTUnwrap(ref.images["landscape"]?.results.first { $0.threshold == 0.2 })
        check(try boxes.record(for: "landscape"), against: expected, "landscape")
    }

    func testDatasetMatchesTransformersAndRecordsABadImage() throws {
        let ref = try reference()
        let names = OWLImages.names
        var lines = names.enumerated().map { i, name in
            #"{"id": \#(i), "image": "\#(name).png", "conversations": []}"#
        }
        lines.append(#"{"id": "broken", "image": "missing.png", "conversations": []}"#)
        let data = dir.appendingPathComponent("records.jsonl")
        try lines.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("boxes.json")
        let result = try runCLI(
            arguments(ref.tags) + [
                "--data", data.path, "--image-folder", Fixtures.url("owlv2/images").path, "--out", out.path,
                "--threshold", "0.2"
            ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("failed: id broken"), result.stdout)
        XCTAssertTrue(result.stdout.contains("7 images"), result.stdout)
        let boxes = try BoxIndex.load(contentsOf: out)
        XCTAssertEqual(boxes.count, names.count)
        for (i, name) in names.enumerated() {
            let expected = try XCTUnwrap(ref.images[name]?.results.first { $0.threshold == 0.2 })
            check(try boxes.record(for: String(i)), against: expected, name)
        }
        // Ids keep their JSON type (ints here), as upstream writes them.
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [[String: Any]]
        XCTAssertEqual(raw?.first?["id"] as? Int, 0)
    }

    func testFlagsAreChecked() throws {
        let missing = try runCLI(["boxes", "--image", "x.png", "--out", dir.appendingPathComponent("o.json").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("--detector"), missing.stderr)
        let empty = try runCLI(arguments([" , "]) + ["--image", "x.png", "--out", "o.json"])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("holds no tags"), empty.stderr)
        let threshold = try runCLI(arguments(["cat"]) + ["--image", "x.png", "--out", "o.json", "--threshold", "2"])
        XCTAssertTrue(threshold.stderr.contains("--threshold 2"), threshold.stderr)
        let both = try runCLI(arguments(["cat"]) + ["--tagger", "ram.pth", "--image", "x.png", "--out", "o.json"])
        XCTAssertTrue(both.stderr.contains("--tagger chooses the tags"), both.stderr)
    }

    /// Upstream's whole pipeline (RAM++ tags, then OWLv2 on "a photo of <tag>") through `mgllava boxes --tagger`:
    /// the box JSON equals the records MG-LLaVA's image_offline_to_bbox.py wrote with recognize-anything's code.
    func testTaggerThenDetectorMatchesUpstream() throws {
        struct Record: Decodable {
            var id: String
            var boxes: [[Int]]
            var scores: [Double]
            var labels: [String]
        }
        struct Pipeline: Decodable { var pipeline: [Record] }
        let expected = try JSONDecoder().decode(
            Pipeline.self, from: Data(contentsOf: Fixtures.url("ram/reference.json"))
        )
        .pipeline
        let lines = OWLImages.names.map { #"{"id": "\#($0)", "image": "\#($0).png", "conversations": []}"# }
        let data = dir.appendingPathComponent("records.jsonl")
        try lines.joined(separator: "\n").write(to: data, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("boxes.json")
        let common = [
            "boxes", "--detector", Fixtures.url("owlv2/owlv2-tiny").path, "--tagger",
            Fixtures.url("ram/ram-plus-tiny/ram_plus_tiny.pth").path
        ]
        let result = try runCLI(
            common + ["--data", data.path, "--image-folder", Fixtures.url("owlv2/images").path, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("tags from RAM++"), result.stdout)
        let photoOut = dir.appendingPathComponent("photo.json")
        let photo = try runCLI(
            common + ["--image", Fixtures.url("ram/images/photo.jpg").path, "--out", photoOut.path])
        XCTAssertEqual(photo.status, 0, photo.stderr)
        let boxes = try BoxIndex.load(contentsOf: out), photoBoxes = try BoxIndex.load(contentsOf: photoOut)
        XCTAssertEqual(boxes.count + photoBoxes.count, expected.count)
        for record in expected {
            let found = try (record.id == "photo" ? photoBoxes : boxes).record(for: record.id)
            check(
                found,
                against: Reference.Result(
                    threshold: 0.2, boxes: record.boxes, scores: record.scores, labels: record.labels),
                record.id)
        }
    }
}

/// The fixture photos of Tests/Fixtures/owlv2/images.
enum OWLImages {
    static let names = ["landscape", "portrait", "odd", "grayscale", "large", "square"]
}
