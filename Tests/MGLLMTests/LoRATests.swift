import Foundation
import XCTest

@testable import MGLLaVA
import MGTestSupport

/// LoRA against PEFT (Tests/Fixtures/lora/vicuna-tiny-r4, scripts/make_lora_fixtures.py): r 4, alpha 8 on every
/// linear layer but lm_head of the tiny Vicuna, PEFT's own saved adapter loaded by its key names, then the logits,
/// the loss, every lora_A / lora_B gradient, one AdamW step and the merged weights compared with PEFT's.
final class LoRATests: XCTestCase {
    let folder = Fixtures.url("lora/vicuna-tiny-r4")
    let targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// The base model with PEFT's adapter attached and loaded.
    func adapted() throws -> (CausalLM, [String: Tensor]) {
        let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        var generator = Generator(seed: 0)
        let adapted = try model.attachLoRA(LoRAConfig(r: 4, alpha: 8, targetModules: targets), generator: &generator)
        XCTAssertEqual(adapted.count, 7 * model.layers.count)
        let file = try SafeTensorsFile(url: folder.appendingPathComponent("adapter/adapter_model.safetensors"))
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        XCTAssertEqual(file.keys.count, 2 * adapted.count)
        for key in file.keys {
            // PEFT's key: base_model.model.<the HF key>
            let ours = String(key.dropFirst("base_model.model.".count))
            let parameter = try XCTUnwrap(parameters[ours], "no parameter \(ours) for \(key)")
            XCTAssertFalse(parameter.frozen, ours)
            parameter.value = try file.tensor(key, copy: true)
        }
        let reference = try SafeTensorsFile(url: folder.appendingPathComponent("reference.safetensors"))
        var tensors: [String: Tensor] = [:]
        for key in reference.keys { tensors[key] = try reference.tensor(key, copy: true) }
        return (model, tensors)
    }

    func testForwardGradientsAndAdamWStepMatchPEFT() throws {
        let (model, ref) = try adapted()
        XCTAssertEqual(
            model.trainableParameterCount,
            model.namedParameters().filter { $0.0.contains("lora_") }
                .reduce(0) { $0 + $1.1.count })
        let ids = try XCTUnwrap(ref["input_ids"]).toArray().map { Int($0) }
        let labels = try XCTUnwrap(ref["labels"]).toArray().map { Int($0) }
        model.train()
        let logits = try XCTUnwrap(model(inputsEmbeds: model.embed([ids])).logits)
        let c = compare(logits, try XCTUnwrap(ref["logits"]), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(c.ok, "logits: \(c.message)")
        let loss = CausalLM.causalLoss(logits: logits, labels: [labels])
        XCTAssertEqual(loss.item(), try XCTUnwrap(ref["loss"]).item(), accuracy: 1e-4)
        loss.backward()
        let lora = model.namedParameters().filter { $0.0.contains("lora_") }
        XCTAssertEqual(lora.count, 2 * 7 * model.layers.count)
        for (key, parameter) in lora {
            let grad = try XCTUnwrap(parameter.grad, key)
            let g = compare(grad, try XCTUnwrap(ref["grad." + key], key), atol: 1e-5, rtol: 1e-3)
            XCTAssertTrue(g.ok, "grad \(key): \(g.message)")
        }
        // Base weights stay frozen: no gradient, untouched by the optimizer.
        XCTAssertNil(model.namedParameters().first { $0.0 == "model.layers.0.self_attn.q_proj.weight" }?.1.grad)
        let optimizer = AdamW(lora, lr: 1e-3, weightDecay: 0.01)
        optimizer.step()
        for (key, parameter) in lora {
            let w = compare(parameter.value, try XCTUnwrap(ref["after_step." + key], key), atol: 1e-6, rtol: 1e-5)
            XCTAssertTrue(w.ok, "after one step \(key): \(w.message)")
        }
    }

    func testMergedWeightsAndLogitsMatchPEFT() throws {
        let (model, ref) = try adapted()
        model.eval()
        let ids = try XCTUnwrap(ref["input_ids"]).toArray().map { Int($0) }
        let unmerged = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([ids])).logits })
        try model.mergeLoRA()
        XCTAssertTrue(model.namedParameters().allSatisfy { !$0.0.contains("lora_") })
        let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters())
        var merged = 0
        for (key, expected) in ref where key.hasPrefix("merged.") {
            let name = String(key.dropFirst("merged.".count))
            let w = compare(try XCTUnwrap(parameters[name], name).value, expected, atol: 1e-6, rtol: 1e-5)
            XCTAssertTrue(w.ok, "merged \(name): \(w.message)")
            merged += 1
        }
        XCTAssertEqual(merged, 7 * model.layers.count)
        let logits = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([ids])).logits })
        let m = compare(logits, try XCTUnwrap(ref["merged_logits"]), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(m.ok, "merged logits vs PEFT: \(m.message)")
        let u = compare(logits, unmerged, atol: 1e-5, rtol: 1e-5)
        XCTAssertTrue(u.ok, "merged vs unmerged: \(u.message)")
    }

    func testConfigAndTargetErrorsAreNamed() throws {
        let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        var generator = Generator(seed: 0)
        XCTAssertThrowsError(try model.attachLoRA(LoRAConfig(r: 0, alpha: 8), generator: &generator)) {
            XCTAssertTrue("\($0)".contains("r 0"), "\($0)")
        }
        XCTAssertThrowsError(try model.attachLoRA(LoRAConfig(r: 4, alpha: -1), generator: &generator)) {
            XCTAssertTrue("\($0)".contains("lora_alpha"), "\($0)")
        }
        XCTAssertThrowsError(
            try model.attachLoRA(LoRAConfig(r: 4, alpha: 8, targetModules: ["q_prj"]), generator: &generator)
        ) { XCTAssertTrue("\($0)".contains("\"q_prj\""), "\($0)") }
        // Default targets: every linear layer but lm_head; B starts at zero, so the model is unchanged.
        let before = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([[5, 9, 12]])).logits })
        let adapted = try model.attachLoRA(LoRAConfig(r: 2, alpha: 4), generator: &generator)
        XCTAssertFalse(adapted.contains { $0.hasSuffix("lm_head") })
        XCTAssertEqual(adapted.count, 7 * model.layers.count)
        let after = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([[5, 9, 12]])).logits })
        XCTAssertEqual(before.toArray(), after.toArray())
        XCTAssertThrowsError(try model.attachLoRA(LoRAConfig(r: 2, alpha: 4), generator: &generator))
    }
}
