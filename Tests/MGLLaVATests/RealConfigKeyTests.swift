import XCTest
import MGLLaVA
import MGTestSupport

/// Key-set goldens: the parameter keys and shapes our modules produce for the published configs (built with
/// placeholder weights — zero pages that are never touched) equal the manifests of the real checkpoints
/// (Tests/Fixtures/real-configs/*/keys.json, from ../shared/fixtures/real-configs), minus the documented ignores.
final class RealConfigKeyTests: XCTestCase {
    struct Manifest {
        var shapes: [String: [Int]]
        var totalParameters: Int?
    }

    func manifest(_ folder: String) throws -> Manifest {
        let dir = Fixtures.url("real-configs/\(folder)")
        let list =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("keys.json")))
            as? [[String: Any]] ?? []
        var shapes: [String: [Int]] = [:]
        for entry in list {
            if let name = entry["name"] as? String, let shape = entry["shape"] as? [Int] { shapes[name] = shape }
        }
        let summary =
            try? JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("summary.json")))
            as? [String: Any]
        return Manifest(shapes: shapes, totalParameters: summary?["total_parameters"] as? Int)
    }

    func ours(_ module: Module, where keep: (String) -> Bool = { _ in true }) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for (k, p) in module.namedParameters() where keep(k) { shapes[k] = p.shape }
        for (k, b) in module.namedBuffers() where keep(k) { shapes[k] = b.shape }
        return shapes
    }

    func assertSameKeys(_ ours: [String: [Int]], _ expected: [String: [Int]], _ what: String, line: UInt = #line) {
        let missing = Set(expected.keys).subtracting(ours.keys).sorted()
        let extra = Set(ours.keys).subtracting(expected.keys).sorted()
        XCTAssertTrue(missing.isEmpty, "\(what): keys we do not produce: \(missing.prefix(8))", line: line)
        XCTAssertTrue(extra.isEmpty, "\(what): keys the checkpoint lacks: \(extra.prefix(8))", line: line)
        let misshaped = expected.filter { k, s in ours[k].map { $0 != s } ?? false }.keys.sorted()
        XCTAssertTrue(misshaped.isEmpty, "\(what): shapes differ for \(misshaped.prefix(8))", line: line)
    }

    func clipL() throws -> CLIPVisionModel {
        CLIPVisionModel(
            CLIPVisionArchitecture(
                try CLIPVisionConfiguration.load(Fixtures.url("real-configs/clip-vit-large-patch14-336"))))
    }

    func llm(_ folder: String) throws -> CausalLM {
        let url = Fixtures.url("real-configs/\(folder)/config.json")
        return CausalLM(try LLMArchitecture(try LLMConfiguration.load(url), path: url.path))
    }

    func testCLIPViTL336() throws {
        let model = try clipL()
        let full = try manifest("clip-vit-large-patch14-336")
        let expected = full.shapes.filter { !CLIPVisionModel.isIgnoredKey($0.key) }
        assertSameKeys(ours(model), expected, "CLIP ViT-L/14-336")
        let subset = try manifest("clip-vit-large-patch14-336/vision-tower-subset")
        assertSameKeys(
            ours(model), subset.shapes.filter { !CLIPVisionModel.isIgnoredKey($0.key) }, "vision tower subset")
        XCTAssertEqual(model.parameterCount, subset.totalParameters)
    }

    func testConvNeXtLarge() throws {
        let trunk = ConvNeXtTrunk(.large)
        let full = try manifest("CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup")
        assertSameKeys(ours(trunk), full.shapes.filter { !ConvNeXtTrunk.isIgnoredKey($0.key) }, "ConvNeXt-L trunk")
        let used = try manifest("CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup/trunk-used-by-mgllava")
        assertSameKeys(ours(trunk), used.shapes, "trunk used by MG-LLaVA")
        XCTAssertEqual(trunk.parameterCount, used.totalParameters)
        XCTAssertEqual(ConvNeXtArchitecture.infer(fromShapes: full.shapes, prefix: ConvNeXtTrunk.keyPrefix), .large)
    }

    func testLLMs() throws {
        for folder in [
            "vicuna-7b-v1.5", "vicuna-13b-v1.5", "Meta-Llama-3-8B-Instruct", "Phi-3-mini-4k-instruct", "Yi-1.5-34B-Chat"
        ] {
            let model = try llm(folder)
            let m = try manifest(folder)
            assertSameKeys(ours(model), m.shapes.filter { !CausalLM.isIgnoredKey($0.key) }, folder)
            XCTAssertEqual(model.parameterCount, m.totalParameters, folder)
        }
    }

    func testMGLLaVACheckpoints() throws {
        let clip = try clipL()
        let convnext = ConvNeXtTrunk(.large)
        for (variant, llmFolder) in [
            ("vicuna7b", "vicuna-7b-v1.5"), ("vicuna13b", "vicuna-13b-v1.5"),
            ("llama3-8b", "Meta-Llama-3-8B-Instruct"), ("phi3-mini", "Phi-3-mini-4k-instruct"),
            ("yi-34b", "Yi-1.5-34B-Chat")
        ] {
            let model = MGLLaVAModel(visualEncoder: clip, visualEncoderAux: convnext, llm: try llm(llmFolder))
            let pretrain = try manifest("mg-llava-\(variant)-pretrain.pth")
            assertSameKeys(
                ours(model) { k in
                    ["fuse_module", "projector", "bbox_projector"].contains { Module.key(k, hasPrefix: $0) }
                },
                pretrain.shapes, "\(variant) pretrain .pth")
            let sft = try manifest("mg-llava-\(variant)-sft.pth")
            assertSameKeys(
                ours(model) { k in MGLLaVAModel.checkpointPrefixes.contains { Module.key(k, hasPrefix: $0) } },
                sft.shapes, "\(variant) SFT .pth")
        }
    }
}
