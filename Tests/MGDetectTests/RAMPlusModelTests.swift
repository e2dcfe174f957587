import Foundation
import MGCheckpoint
import MGJSON
import MGTestSupport
import XCTest

@testable import MGDetect

/// RAM++ vs recognize-anything's `ram_plus` on a tiny random model (Tests/Fixtures/ram, made by
/// scripts/make_ram_fixtures.py): the Swin stages, the image embeddings, the re-weighted tag embeddings, the tagging
/// head and the logits for seven images; the module tree of the real swin_l 384 model against upstream's keys.
final class RAMPlusModelTests: XCTestCase {
    static let images = ["landscape", "portrait", "odd", "grayscale", "large", "square", "photo"]
    /// The images whose pixel values and first-stage outputs the fixture stores (the others: RAMPlusTaggerTests).
    static let fullImages = ["landscape", "photo"]
    static let tiny = "ram/ram-plus-tiny"

    func reference() throws -> SafeTensorsFile { try SafeTensorsFile(url: Fixtures.url("ram/reference.safetensors")) }

    static func tinyConfiguration(numClasses: Int = 10) throws -> RAMPlusConfiguration {
        try RAMPlusConfiguration.load(
            visionConfig: Fixtures.url("\(tiny)/config_swin.json"),
            taggingHeadConfig: Fixtures.url("\(tiny)/q2l_config.json"), numClasses: numClasses)
    }

    static func loadTiny() throws -> RAMPlusModel {
        try RAMPlusModel.load(
            checkpoint: Fixtures.url("\(tiny)/ram_plus_tiny.pth"), configuration: try tinyConfiguration()
        ).model
    }

    func check(_ actual: Tensor, _ expected: Tensor, _ name: String, atol: Float = 1e-4, rtol: Float = 1e-4) {
        XCTAssertEqual(actual.shape, expected.shape, name)
        let r = compare(actual, expected, atol: atol, rtol: rtol)
        XCTAssertTrue(r.ok, "\(name): \(r.message)")
    }

    func testEveryStageMatchesUpstream() throws {
        let model = try Self.loadTiny()
        let ref = try reference()
        for name in Self.fullImages {
            let pixels = try ref.tensor("\(name).pixel_values")
            let (patches, stages, out) = withNoGrad {
                (
                    model.visualEncoder.patchEmbed(pixels), model.visualEncoder.forward(pixels).stages,
                    model.forward(pixels)
                )
            }
            check(patches, try ref.tensor("\(name).patch_embed"), "\(name) patch_embed")
            for (i, stage) in stages.enumerated() {
                check(stage, try ref.tensor("\(name).layer\(i)"), "\(name) layer\(i)")
            }
            check(out.visual, try ref.tensor("\(name).visual"), "\(name) visual_encoder")
            check(out.imageEmbeds, try ref.tensor("\(name).image_embeds"), "\(name) image_embeds")
            check(out.labelEmbed, try ref.tensor("\(name).label_embed"), "\(name) label_embed")
            check(out.tagging, try ref.tensor("\(name).tagging"), "\(name) tagging head")
            check(out.logits, try ref.tensor("\(name).logits"), "\(name) logits")
        }
    }

    func testImagesAreTaggedInOneBatch() throws {
        // Two images at once give each image's own logits (the re-weighting runs per image).
        let model = try Self.loadTiny()
        let ref = try reference()
        let pixels = Tensor.concat(
            [try ref.tensor("landscape.pixel_values"), try ref.tensor("photo.pixel_values")], axis: 0)
        let logits = withNoGrad { model.forward(pixels).logits }
        check(logits.slice(axis: 0, 0, 1), try ref.tensor("landscape.logits"), "batch row 0")
        check(logits.slice(axis: 0, 1, 2), try ref.tensor("photo.logits"), "batch row 1")
    }

    func testWindowLayoutIsUpstreamsRollAndPartition() {
        // side 4, window 2, shift 1: the rolled grid's (r, c) is the original's ((r + 1) % 4, (c + 1) % 4).
        let layout = SwinWindowLayout(side: 4, window: 2, shift: 1)
        XCTAssertEqual(Array(layout.order.prefix(8)), [5, 6, 9, 10, 7, 4, 11, 8])
        XCTAssertEqual(Set(layout.order), Set(0..<16))
        for (position, token) in layout.order.enumerated() { XCTAssertEqual(layout.inverse[token], position) }
        // The last window mixes all four regions; the first one none.
        let mask = layout.shiftMask()
        XCTAssertEqual(Array(mask[0..<16]), [Float](repeating: 0, count: 16))
        XCTAssertEqual(Array(mask[48..<52]), [0, -100, -100, -100])
        XCTAssertEqual(
            SwinWindowLayout.relativePositionIndex(window: 2), [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4])
    }

    func testTheLastStagesWindowShrinksToItsGrid() throws {
        let configuration = try Self.tinyConfiguration()
        let last = configuration.vision.depths.count - 1
        XCTAssertEqual(configuration.vision.window(stage: last), configuration.vision.resolution(stage: last))
        XCTAssertEqual(configuration.vision.shift(stage: last), 0)
        XCTAssertGreaterThan(configuration.vision.shift(stage: 0), 0)
        let model = RAMPlusModel(configuration)
        let keys = Set(model.namedBuffers().map(\.0))
        XCTAssertTrue(keys.contains("visual_encoder.layers.0.blocks.1.attn_mask"))
        XCTAssertFalse(keys.contains("visual_encoder.layers.\(last).blocks.1.attn_mask"))
    }

    /// The module tree built from upstream's swin_l 384 configs has exactly the keys and shapes of
    /// `RAM_plus(vit='swin_l', image_size=384).state_dict()`.
    func testRealConfigurationHasUpstreamsKeysAndShapes() throws {
        let manifest = try JSONValue.parse(Data(contentsOf: Fixtures.url("ram/manifests/ram_plus_swin_l_384.json")))
        guard let shapes = manifest.members?.first(where: { $0.key == "shapes" })?.value.members else {
            return XCTFail("manifest has no 'shapes' object")
        }
        var expected: [String: [Int]] = [:]
        for member in shapes { expected[member.key] = member.value.array?.compactMap(\.int) }
        XCTAssertGreaterThan(expected.count, 300)
        let model = RAMPlusModel(.swinLarge384)
        var actual: [String: [Int]] = [:]
        for (key, parameter) in model.namedParameters() { actual[key] = parameter.shape }
        for (key, buffer) in model.namedBuffers() { actual[key] = buffer.shape }
        XCTAssertEqual(Set(actual.keys).subtracting(expected.keys).sorted(), [], "keys upstream does not have")
        XCTAssertEqual(Set(expected.keys).subtracting(actual.keys).sorted(), [], "upstream keys missing here")
        for (key, shape) in expected where actual[key] != nil { XCTAssertEqual(actual[key], shape, key) }
    }

    // MARK: - Bad checkpoints

    /// The tiny checkpoint's tensors, edited, written as safetensors in a temporary folder.
    func writeEdited(_ edit: (inout [String: Tensor]) -> Void) throws -> URL {
        let source = try Checkpoint.open(Fixtures.url("\(Self.tiny)/ram_plus_tiny.pth"))
        var state = try source.loadAll(copy: true)
        edit(&state)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("edited.safetensors")
        try SafeTensorsWriter.write(state.mapValues { $0.dtype == .int64 ? $0 : $0.float() }, to: file)
        return file
    }

    func assertRefused(
        _ file: URL, mentions parts: [String], file line: StaticString = #filePath, at: UInt = #line
    )
        throws
    {
        XCTAssertThrowsError(
            try RAMPlusModel.load(checkpoint: file, configuration: try Self.tinyConfiguration()), file: line, line: at
        ) { error in
            let message = "\(error)"
            for part in parts {
                XCTAssertTrue(message.contains(part), "\(message) lacks \(part)", file: line, line: at)
            }
        }
    }

    func testARAMCheckpointIsNamedAsRAM() throws {
        let file = try writeEdited { $0["reweight_scale"] = nil }
        try assertRefused(file, mentions: ["not RAM++", "reweight_scale"])
    }

    func testASwinBEncoderIsNamed() throws {
        let file = try writeEdited { $0["visual_encoder.patch_embed.proj.weight"] = Tensor.zeros([128, 3, 4, 4]) }
        try assertRefused(file, mentions: ["Swin-B", "patch_embed.proj.weight", "[128, 3, 4, 4]"])
    }

    func testAnotherWindowIsNamed() throws {
        let file = try writeEdited {
            $0["visual_encoder.layers.0.blocks.0.attn.relative_position_bias_table"] = Tensor.zeros([529, 1])
        }
        try assertRefused(file, mentions: ["window 12", "relative_position_bias_table"])
    }

    func testABiasTableOfAnotherRankIsAnErrorNotACrash() throws {
        let key = "visual_encoder.layers.0.blocks.0.attn.relative_position_bias_table"
        let file = try writeEdited { $0[key] = Tensor.zeros([]) }
        try assertRefused(file, mentions: [key])
    }

    func testAnotherInputSizeIsNamed() throws {
        let file = try writeEdited { $0["visual_encoder.layers.0.blocks.1.attn_mask"] = Tensor.zeros([16, 49, 49]) }
        try assertRefused(file, mentions: ["attn_mask", "112 px"])
    }

    func testAnotherTagCountIsNamed() throws {
        let file = try writeEdited { $0["label_embed"] = Tensor.zeros([11 * 51, 512]) }
        try assertRefused(file, mentions: ["label_embed", "561 rows"])
    }

    func testAStoredGeometryBufferMustMatch() throws {
        let key = "visual_encoder.layers.1.blocks.0.attn.relative_position_index"
        let file = try writeEdited { $0[key] = Tensor(int64: [Int](repeating: 0, count: 49 * 49), shape: [49, 49]) }
        try assertRefused(file, mentions: [key, "window geometry"])
    }

    func testAMissingKeyIsNamed() throws {
        let file = try writeEdited { $0["tagging_head.encoder.layer.1.output.dense.weight"] = nil }
        try assertRefused(file, mentions: ["tagging_head.encoder.layer.1.output.dense.weight"])
    }

    func testATruncatedCheckpointIsAnErrorNotACrash() throws {
        let data = try Data(contentsOf: Fixtures.url("\(Self.tiny)/ram_plus_tiny.pth"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for fraction in [0.1, 0.5, 0.97] {
            let file = dir.appendingPathComponent("cut-\(fraction).pth")
            try data.prefix(Int(Double(data.count) * fraction)).write(to: file)
            XCTAssertThrowsError(
                try RAMPlusModel.load(checkpoint: file, configuration: try Self.tinyConfiguration())
            ) { XCTAssertTrue("\($0)".contains(file.lastPathComponent), "\($0)") }
        }
    }

    func testUpstreamConfigFilesAreReadAndChecked() throws {
        let configuration = try Self.tinyConfiguration()
        XCTAssertEqual(configuration.vision.depths.count, 4)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ram-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("config_swin.json")
        try Data(
            #"{"vision_width": 64, "image_res": 224, "window_size": 10, "embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4]}"#
                .utf8
        ).write(to: bad)
        XCTAssertThrowsError(try ConfigFile.decode(SwinConfiguration.self, from: bad)) { error in
            XCTAssertTrue("\(error)".contains("window_size"), "\(error)")
            XCTAssertTrue("\(error)".contains("config_swin.json"), "\(error)")
        }
    }
}
