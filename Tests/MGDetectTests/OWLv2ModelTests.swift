import Foundation
import MGCheckpoint
import MGJSON
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
