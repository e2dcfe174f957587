import Foundation
import MGCheckpoint
import MGJSON
import MGTokenizers
import MGTestSupport
import XCTest

@testable import MGDetect

/// OWLv2 vs transformers 4.44.2's `Owlv2ForObjectDetection` on a tiny random model (Tests/Fixtures/owlv2, made by
/// scripts/make_owlv2_fixtures.py): every intermediate the detector uses, for six images.
final class OWLv2ModelTests: XCTestCase {
    static let images = ["landscape", "portrait", "odd", "grayscale", "large", "square"]

    func reference() throws -> SafeTensorsFile {
        try SafeTensorsFile(url: Fixtures.url("owlv2/reference.safetensors"))
    }

    func check(_ actual: Tensor, _ expected: Tensor, _ name: String, atol: Float = 1e-4, rtol: Float = 1e-4) {
        XCTAssertEqual(actual.shape, expected.shape, name)
        let r = compare(actual, expected, atol: atol, rtol: rtol)
        XCTAssertTrue(r.ok, "\(name): \(r.message)")
    }

    func testQueryEmbeddingsMatchTransformers() throws {
        let model = try OWLv2Model.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let ref = try reference()
        let ids = try ref.tensor("input_ids").toInt64Array().map { Int($0) }  // [Q, 16], padded with "!" (0)
        let q = ids.count / 16
        let padded = (0..<q).map { Array(ids[($0 * 16)..<(($0 + 1) * 16)]) }
        let pooled = withNoGrad { model.owlv2.textModel.pooled(padded) }
        check(pooled, try ref.tensor("text_pooler_output"), "text pooler output")
        let embeds = withNoGrad { model.queryEmbeddings(padded) }
        check(embeds, try ref.tensor("text_embeds").reshaped([q, model.configuration.projectionDim]), "text_embeds")
        // Cut after the end-of-text token (what the detector runs): the same embeddings (causal mask).
        let cut = padded.map { Array($0.prefix(CLIPTextTransformer.poolingPosition($0) + 1)) }
        XCTAssertNotEqual(Set(cut.map(\.count)).count, 1, "the fixture queries have different lengths")
        check(withNoGrad { model.queryEmbeddings(cut) }, embeds, "unpadded queries", atol: 1e-6, rtol: 1e-5)
    }

    func testImageSideAndHeadsMatchTransformers() throws {
        let model = try OWLv2Model.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let ref = try reference()
        let q = try ref.tensor("text_embeds").shape.dropLast().reduce(1, *)
        let queries = try ref.tensor("text_embeds").reshaped([q, model.configuration.projectionDim])
        for name in Self.images {
            let pixels = try ref.tensor("\(name).pixel_values")
            let last = withNoGrad { model.owlv2.visionModel.lastHiddenState(pixels) }
            check(last, try ref.tensor("\(name).vision_last_hidden_state"), "\(name) vision last hidden state")
            let features = withNoGrad { model.imageFeatures(pixels) }
            let grid = model.configuration.vision.gridSize
            check(
                features, try ref.tensor("\(name).image_embeds").reshaped([1, grid * grid, features.shape[2]]),
                "\(name) image_embeds")
            let out = withNoGrad { model.heads(features, queries: queries) }
            check(out.logits, try ref.tensor("\(name).logits"), "\(name) logits")
            check(out.predBoxes, try ref.tensor("\(name).pred_boxes"), "\(name) pred_boxes")
            check(out.objectnessLogits, try ref.tensor("\(name).objectness_logits"), "\(name) objectness")
            check(out.classEmbeds, try ref.tensor("\(name).class_embeds"), "\(name) class_embeds")
        }
    }

    func testMaskedQueriesGetTheLowestLogit() throws {
        let model = try OWLv2Model.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let ref = try reference()
        let queries = try ref.tensor("text_embeds").reshaped([8, model.configuration.projectionDim])
        let features = withNoGrad { model.imageFeatures(try! ref.tensor("square.pixel_values")) }
        var mask = [Bool](repeating: true, count: 8)
        mask[3] = false
        let logits = withNoGrad { model.heads(features, queries: queries, queryMask: mask) }.logits.toArray()
        for row in 0..<(logits.count / 8) {
            XCTAssertEqual(logits[row * 8 + 3], -Float.greatestFiniteMagnitude)
            XCTAssertGreaterThan(logits[row * 8 + 2], -1e30)
        }
    }

    func testBoxBiasIsTheGridPrior() {
        // n = 2: centres (0.5, 0.5), (1, 0.5), (0.5, 1), (1, 1) (x varies fastest); size 0.5.
        let bias = OWLv2Model.boxBias(gridSize: 2).toArray()
        // float32 inputs as torch computes them (−1 + 1e-4 rounds in float32 before log1p).
        func logit(_ c: Float) -> Float { Float(log(Double(c + 1e-4))) - Float(log1p(Double(-c + 1e-4))) }
        XCTAssertEqual(bias.count, 16)
        XCTAssertEqual(bias[0], logit(0.5), accuracy: 1e-6)
        XCTAssertEqual(bias[4], logit(1.0), accuracy: 1e-5)
        XCTAssertEqual(bias[5], logit(0.5), accuracy: 1e-6)
        XCTAssertEqual(bias[9], logit(1.0), accuracy: 1e-5)
        XCTAssertEqual(bias[3], logit(0.5), accuracy: 1e-6)
    }

    func testPickleCheckpointLoadsTheSame() throws {
        let temp = FileManager.default.temporaryDirectory.appendingPathComponent("owlv2-bin-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Fixtures.url("owlv2/owlv2-tiny"), to: temp)
        defer { try? FileManager.default.removeItem(at: temp) }
        try FileManager.default.removeItem(at: temp.appendingPathComponent("model.safetensors"))
        let fromBin = try OWLv2Model.load(directory: temp)
        let fromSafe = try OWLv2Model.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let a = fromBin.stateDict(), b = fromSafe.stateDict()
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        for (key, value) in b { XCTAssertEqual(a[key]?.toArray(), value.toArray(), key) }
    }

    /// The module tree built from the published base and large configs has exactly the checkpoints' keys and shapes
    /// (manifests from transformers' meta-device instantiation).
    func testKeySetsMatchThePublishedModels() throws {
        for name in ["base", "large"] {
            let url = Fixtures.url("owlv2/manifests/owlv2-\(name).json")
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
            let keys = try XCTUnwrap(manifest?["keys"] as? [String: [Int]], name)
            let configData = try JSONSerialization.data(withJSONObject: try XCTUnwrap(manifest?["config"]))
            let configuration = try ConfigFile.decode(OWLv2Configuration.self, from: configData, path: url.path)
            let model = OWLv2Model(configuration)
            var ours: [String: [Int]] = [:]
            for (key, parameter) in model.namedParameters() { ours[key] = parameter.shape }
            XCTAssertEqual(Set(ours.keys), Set(keys.keys), name)
            for (key, shape) in keys { XCTAssertEqual(ours[key], shape, "\(name): \(key)") }
        }
    }

    func testConfigErrorsNameTheField() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("owlv2-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, String)] = [
            (#"{"model_type": "owlvit"}"#, "model_type"),
            (#"{"model_type": "owlv2", "vision_config": {"patch_size": 7}}"#, "patch_size"),
            (#"{"model_type": "owlv2", "text_config": {"hidden_size": "x"}}"#, "hidden_size"),
            (#"{"model_type": "owlv2", "projection_dim": 256}"#, "projection_dim"),
            (#"{"model_type": "owlv2", "vision_config": {"hidden_act": "relu"}}"#, "hidden_act")
        ]
        for (text, field) in cases {
            try Data(text.utf8).write(to: dir.appendingPathComponent("config.json"))
            XCTAssertThrowsError(try OWLv2Configuration.load(dir), text) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error)")
                XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
            }
        }
    }
}

/// `post_process_object_detection` + `.int()` on the model's own outputs vs transformers' boxes, scores and labels.
final class OWLv2PostProcessingTests: XCTestCase {
    struct Reference: Decodable {
        struct Result: Decodable {
            var threshold: Float
            var boxes: [[Int]]
            var scores: [Float]
            var labels: [String]
        }
        struct Image: Decodable {
            var width: Int
            var height: Int
            var results: [Result]
        }
        var tags: [String]
        var images: [String: Image]
    }

    func testBoxesScoresAndLabelsMatchTransformers() throws {
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: Fixtures.url("owlv2/reference.json")))
        let model = try OWLv2Model.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let tensors = try SafeTensorsFile(url: Fixtures.url("owlv2/reference.safetensors"))
        let queries = try tensors.tensor("text_embeds").reshaped([reference.tags.count, 32])
        var compared = 0
        for name in OWLv2ModelTests.images {
            let image = try XCTUnwrap(reference.images[name])
            let outputs = withNoGrad {
                model.heads(model.imageFeatures(try! tensors.tensor("\(name).pixel_values")), queries: queries)
            }
            for expected in image.results {
                let found = outputs.detections(threshold: expected.threshold, side: max(image.width, image.height))
                XCTAssertEqual(found.map(\.box), expected.boxes, "\(name) at \(expected.threshold)")
                XCTAssertEqual(found.map { reference.tags[$0.queryIndex] }, expected.labels, name)
                XCTAssertEqual(found.count, expected.scores.count, name)
                for (a, b) in zip(found.map(\.score), expected.scores) { XCTAssertEqual(a, b, accuracy: 1e-5, name) }
                compared += found.count
            }
        }
        XCTAssertGreaterThan(compared, 300)
    }

    func testThresholdIsStrictAndBoxesTruncateTowardZero() {
        // One patch, two queries (tie → the first); logit 0 → score exactly 0.5.
        let outputs = OWLv2Model.Outputs(
            logits: Tensor([0, 0], shape: [1, 1, 2]), objectnessLogits: Tensor.zeros([1, 1]),
            predBoxes: Tensor([0.01, 0.5, 0.1, 0.2], shape: [1, 1, 4]), classEmbeds: Tensor.zeros([1, 1, 2]))
        XCTAssertEqual(outputs.detections(threshold: 0.5, side: 100), [])
        let kept = outputs.detections(threshold: 0.4999, side: 100)
        // x0 = (0.01 − 0.05)·100 = −4 → −4 (toward zero, not −5); y0 = 40, x1 = 6, y1 = 60.
        XCTAssertEqual(kept.map(\.box), [[-4, 40, 6, 60]])
        XCTAssertEqual(kept.first?.queryIndex, 0)
    }
}

/// The tiny OWLv2 folder's CLIP tokenizer encodes the queries as `Owlv2Processor` did (padded to 16 with "!").
final class OWLv2QueryTokenizationTests: XCTestCase {
    func testQueriesEncodeAsTheProcessorDid() throws {
        let tokenizer = try Tokenizer.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("owlv2/reference.json"))) as? [String: Any]
        let queries = try XCTUnwrap(reference?["queries"] as? [String])
        let ids = try SafeTensorsFile(url: Fixtures.url("owlv2/reference.safetensors")).tensor("input_ids")
            .toInt64Array().map { Int($0) }
        XCTAssertEqual(ids.count, queries.count * 16)
        for (i, query) in queries.enumerated() {
            let encoded = try XCTUnwrap(tokenizer.encodePadded(query, length: 16), query)
            XCTAssertEqual(encoded.ids, Array(ids[(i * 16)..<((i + 1) * 16)]), query)
            XCTAssertFalse(encoded.truncated, query)
        }
    }
}
