import Foundation
import MGCheckpoint
import MGTestSupport
import XCTest

@testable import MGDetect

/// The whole detector — preprocessing, CLIP tokenizer, towers, heads, post-processing — from the tiny HF folder, on
/// the fixture images' RGB bytes, vs transformers 4.44.2's `Owlv2Processor` + model + `post_process_object_detection`.
final class OWLv2DetectorTests: XCTestCase {
    func testDetectionsMatchTransformersEndToEnd() throws {
        let reference = try JSONDecoder().decode(
            OWLv2PostProcessingTests.Reference.self, from: Data(contentsOf: Fixtures.url("owlv2/reference.json")))
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let tensors = try SafeTensorsFile(url: Fixtures.url("owlv2/reference.safetensors"))
        let queries = reference.tags.map { "a photo of \($0)" }
        var compared = 0
        for name in OWLv2ModelTests.images {
            let image = try XCTUnwrap(reference.images[name])
            let rgb = try tensors.tensor("\(name).rgb")
            XCTAssertEqual(rgb.shape, [image.height, image.width, 3])
            let bytes = rgb.toInt64Array().map { UInt8($0) }
            for expected in image.results {
                let found = try detector.detect(
                    rgb: bytes, width: image.width, height: image.height, queries: queries,
                    threshold: expected.threshold)
                XCTAssertEqual(found.map(\.box), expected.boxes, "\(name) at \(expected.threshold)")
                XCTAssertEqual(found.map { reference.tags[$0.queryIndex] }, expected.labels, name)
                for (a, b) in zip(found.map(\.score), expected.scores) { XCTAssertEqual(a, b, accuracy: 1e-5, name) }
                compared += found.count
            }
        }
        XCTAssertGreaterThan(compared, 300)
        XCTAssertEqual(detector.cachedQueryCount, queries.count, "each query embedded once for all images")
    }

    func testQueryCacheAndTruncation() throws {
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        var truncated: [String] = []
        detector.onTruncatedQuery = { text, _ in truncated.append(text) }
        let long = "a photo of a cat and a dog and a bear and a remote and a person in a café"
        let first = try detector.queryEmbeddings(["a photo of a cat", long, "a photo of a cat"])
        XCTAssertEqual(first.shape, [3, 32])
        XCTAssertEqual(detector.cachedQueryCount, 2)
        XCTAssertEqual(truncated, [long], "said once per text")
        let second = try detector.queryEmbeddings([long, "a photo of a dog"])
        XCTAssertEqual(truncated, [long], "a cached text is not encoded (or reported) again")
        XCTAssertEqual(detector.cachedQueryCount, 3)
        XCTAssertEqual(Array(second.toArray()[0..<32]), Array(first.toArray()[32..<64]))
        // The truncated query is embedded as transformers would with truncation=True (16 tokens ending in eos).
        let encoded = try XCTUnwrap(detector.tokenizer.encodePadded(long, length: 16))
        XCTAssertTrue(encoded.truncated)
        let direct = detector.model.queryEmbeddings([encoded.ids])
        let r = compare(Tensor(Array(first.toArray()[32..<64]), shape: [1, 32]), direct, atol: 1e-6, rtol: 1e-5)
        XCTAssertTrue(r.ok, r.message)
    }

    func testBadRequestsAndFoldersAreNamed() throws {
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        XCTAssertThrowsError(try detector.detect(rgb: [0, 0, 0], width: 1, height: 1, queries: [], threshold: 0.2)) {
            XCTAssertTrue("\($0)".contains("no queries"), "\($0)")
        }
        XCTAssertThrowsError(
            try detector.detect(rgb: [0, 0], width: 1, height: 1, queries: ["a photo of a cat"], threshold: 0.2)
        ) { XCTAssertTrue("\($0)".contains("bytes"), "\($0)") }

        let fm = FileManager.default
        let temp = fm.temporaryDirectory.appendingPathComponent("owlv2-detector-\(UUID().uuidString)")
        try fm.copyItem(at: Fixtures.url("owlv2/owlv2-tiny"), to: temp)
        defer { try? fm.removeItem(at: temp) }
        // Another architecture: refused by config.json's model_type.
        let config = temp.appendingPathComponent("config.json")
        let original = try Data(contentsOf: config)
        try Data(
            String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"owlv2\"", with: "\"owlvit\"").utf8
        )
        .write(to: config)
        XCTAssertThrowsError(try OWLv2Detector.load(directory: temp)) {
            XCTAssertTrue("\($0)".contains("model_type") && "\($0)".contains("owlvit"), "\($0)")
        }
        try original.write(to: config)
        // Missing files are named before anything loads.
        for name in ["preprocessor_config.json", "model.safetensors", "config.json"] {
            try fm.moveItem(at: temp.appendingPathComponent(name), to: temp.appendingPathComponent(name + ".away"))
        }
        try fm.removeItem(at: temp.appendingPathComponent("pytorch_model.bin"))
        XCTAssertThrowsError(try OWLv2Detector.load(directory: temp)) { error in
            for name in ["config.json", "preprocessor_config.json", "model.safetensors"] {
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
        XCTAssertThrowsError(try OWLv2Detector.load(directory: temp.appendingPathComponent("nowhere"))) {
            XCTAssertTrue("\($0)".contains("not a directory"), "\($0)")
        }
    }
}
