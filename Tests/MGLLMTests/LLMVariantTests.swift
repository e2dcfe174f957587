import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// The tiny decoders with a sliding window shorter than the prompt (Phi-3) and with each RoPE scaling (linear,
/// llama3) in config.json, against transformers' logits (Tests/Fixtures/reference/llm-variants.*): one forward
/// pass over 40 tokens, and the same tokens decoded one at a time through the KV cache.
final class LLMVariantTests: XCTestCase {
    struct Variant: Decodable {
        let name: String
        let model: String
        let input_ids: [Int]
    }

    struct File: Decodable { let variants: [Variant] }

    /// The fixture model folder with the variant's overrides written into its config.json.
    private func folder(for variant: Variant, overrides: [String: Any]) throws -> URL {
        let source = Fixtures.url("models/\(variant.model)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-variant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where file != "config.json" {
            try FileManager.default.createSymbolicLink(
                at: dir.appendingPathComponent(file),
                withDestinationURL: source.appendingPathComponent(file))
        }
        var config = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json")))
                as? [String: Any])
        for (key, value) in overrides { config[key] = value }
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    func testSlidingWindowAndRopeScalingMatchTransformers() throws {
        let data = try Data(contentsOf: Fixtures.url("reference/llm-variants.json"))
        let file = try JSONDecoder().decode(File.self, from: data)
        let raw = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let overrides = try XCTUnwrap(raw["variants"] as? [[String: Any]]).map {
            $0["overrides"] as? [String: Any] ?? [:]
        }
        XCTAssertEqual(file.variants.count, 5)
        let expected = try SafeTensorsFile(url: Fixtures.url("reference/llm-variants.safetensors"))
        for (variant, override) in zip(file.variants, overrides) {
            let dir = try folder(for: variant, overrides: override)
            defer { try? FileManager.default.removeItem(at: dir) }
            let model = try CausalLM.load(directory: dir)
            if override["sliding_window"] != nil {
                XCTAssertEqual(model.architecture.slidingWindow, override["sliding_window"] as? Int, variant.name)
            } else {
                XCTAssertNotNil(model.architecture.ropeScaling, variant.name)
            }
            let reference = try expected.tensor(variant.name)  // [40, V]
            let ids = variant.input_ids
            let full = withNoGrad { model(inputsEmbeds: model.embed([ids])).logits!.squeezed(0) }
            let r = compare(full, reference, atol: 2e-4, rtol: 1e-4)
            XCTAssertTrue(r.ok, "\(variant.name) one pass: \(r.message)")
            // Token by token through the cache (the window and the scaled positions in the decode path).
            let cache = KVCache(architecture: model.architecture, batch: 1, capacity: 4)  // grows
            for (position, id) in ids.enumerated() {
                let step = withNoGrad {
                    model(inputsEmbeds: model.embed([[id]]), cache: cache, logitsForLastOnly: true).logits!
                }
                let s = compare(step.reshaped([-1]), reference.select(axis: 0, position), atol: 2e-4, rtol: 1e-4)
                XCTAssertTrue(s.ok, "\(variant.name) cached step \(position): \(s.message)")
            }
        }
    }
}
