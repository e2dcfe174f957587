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

/// PEFT's adapter folder read and written by `PEFTAdapter`: PEFT's own folder gives PEFT's logits; ours reads back to
/// the same weights; adapters that do not fit are refused by file and key.
final class PEFTAdapterTests: XCTestCase {
    let folder = Fixtures.url("lora/vicuna-tiny-r4")

    func testPEFTsFolderLoadsAndOursRoundTrips() throws {
        let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        let config = try PEFTAdapter.load(folder.appendingPathComponent("adapter"), into: model)
        XCTAssertEqual(config.r, 4)
        XCTAssertEqual(config.alpha, 8)
        let reference = try SafeTensorsFile(url: folder.appendingPathComponent("reference.safetensors"))
        let ids = try reference.tensor("input_ids", copy: true).toArray().map { Int($0) }
        model.eval()
        let logits = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([ids])).logits })
        let c = compare(logits, try reference.tensor("logits", copy: true), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(c.ok, c.message)

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("peft-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try PEFTAdapter.save(model, config: config, baseModel: "vicuna-tiny", to: out)
        let again = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
        try PEFTAdapter.load(out, into: again)
        let first = Dictionary(uniqueKeysWithValues: model.namedParameters())
        for (key, parameter) in again.namedParameters() where key.contains(".lora_") {
            XCTAssertEqual(parameter.value.toArray(), first[key]?.value.toArray(), key)
        }
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("adapter_config.json")))
            as? [String: Any]
        XCTAssertEqual(json?["peft_type"] as? String, "LORA")
        XCTAssertEqual(json?["base_model_name_or_path"] as? String, "vicuna-tiny")
        XCTAssertEqual(Set(json?["target_modules"] as? [String] ?? []), Set(config.targetModules ?? []))
    }

    func testAdaptersThatDoNotFitAreNamed() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("peft-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let source = folder.appendingPathComponent("adapter")
        let config = try String(contentsOf: source.appendingPathComponent("adapter_config.json"), encoding: .utf8)
        func attempt(config text: String, weights: [String: Tensor]? = nil) -> String {
            try? FileManager.default.removeItem(at: out.appendingPathComponent("adapter_config.json"))
            try? FileManager.default.removeItem(at: out.appendingPathComponent("adapter_model.safetensors"))
            try? text.write(to: out.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
            if let weights {
                try? SafeTensorsWriter.write(weights, to: out.appendingPathComponent("adapter_model.safetensors"))
            } else {
                try? FileManager.default.copyItem(
                    at: source.appendingPathComponent("adapter_model.safetensors"),
                    to: out.appendingPathComponent("adapter_model.safetensors"))
            }
            do {
                let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
                try PEFTAdapter.load(out, into: model)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(attempt(config: config).contains("loaded"))
        let r8 = attempt(config: config.replacingOccurrences(of: "\"r\": 4", with: "\"r\": 8"))
        XCTAssertTrue(r8.contains("lora_A.weight") && r8.contains("shape"), r8)
        let typo = attempt(config: config.replacingOccurrences(of: "\"k_proj\"", with: "\"k_prj\""))
        XCTAssertTrue(typo.contains("target_modules") && typo.contains("k_prj"), typo)
        let prefix = attempt(config: config.replacingOccurrences(of: "\"LORA\"", with: "\"IA3\""))
        XCTAssertTrue(prefix.contains("peft_type"), prefix)
        let weights = try SafeTensorsFile(url: source.appendingPathComponent("adapter_model.safetensors"))
        var partial: [String: Tensor] = [:]
        for key in weights.keys.dropLast() { partial[key] = try weights.tensor(key, copy: true) }
        let missing = attempt(config: config, weights: partial)
        XCTAssertTrue(missing.contains("missing") && missing.contains(weights.keys.last ?? "?"), missing)
    }

    /// `convert --merge-lora`'s library call: the merged HF folder loads as a plain model whose weights and logits are
    /// PEFT's `merge_and_unload()`'s; a GGUF base is refused.
    func testMergeWritesPEFTsMergedModel() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("merged-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        var lines: [String] = []
        try PEFTAdapter.merge(
            adapter: folder.appendingPathComponent("adapter"), baseLLM: Fixtures.url("models/vicuna-tiny"),
            output: out, maxShardBytes: 1 << 20
        ) { lines.append($0) }
        XCTAssertTrue(lines.last?.contains("into 14 weights") ?? false, "\(lines)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("config.json").path))
        let merged = try CausalLM.load(directory: out)
        XCTAssertTrue(merged.namedParameters().allSatisfy { !$0.0.contains("lora_") })
        let reference = try SafeTensorsFile(url: folder.appendingPathComponent("reference.safetensors"))
        let parameters = Dictionary(uniqueKeysWithValues: merged.namedParameters())
        for key in reference.keys where key.hasPrefix("merged.") {
            let name = String(key.dropFirst("merged.".count))
            let w = compare(
                try XCTUnwrap(parameters[name], name).value, try reference.tensor(key, copy: true), atol: 1e-6,
                rtol: 1e-5)
            XCTAssertTrue(w.ok, "\(name): \(w.message)")
        }
        let ids = try reference.tensor("input_ids", copy: true).toArray().map { Int($0) }
        let logits = try XCTUnwrap(withNoGrad { merged(inputsEmbeds: merged.embed([ids])).logits })
        let c = compare(logits, try reference.tensor("merged_logits", copy: true), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(c.ok, c.message)
        XCTAssertThrowsError(
            try PEFTAdapter.merge(
                adapter: folder.appendingPathComponent("adapter"),
                baseLLM: Fixtures.url("gguf/vicuna-tiny-f32.gguf"), output: out, maxShardBytes: 1 << 20)
        ) { XCTAssertTrue("\($0)".contains("GGUF"), "\($0)") }
    }
}

/// PEFT's `modules_to_save` (Tests/Fixtures/lora/vicuna-tiny-r4-save: q_proj/v_proj adapters, `lm_head` and
/// `embed_tokens` saved whole): PEFT's folder gives PEFT's logits unmerged and merged, ours writes the modules under
/// PEFT's names, and training unfreezes exactly those modules.
final class ModulesToSaveTests: XCTestCase {
    let folder = Fixtures.url("lora/vicuna-tiny-r4-save")

    func testPEFTsFolderWithModulesToSaveLoadsMergesAndRoundTrips() throws {
        let reference = try SafeTensorsFile(url: folder.appendingPathComponent("reference.safetensors"))
        let ids = try reference.tensor("input_ids", copy: true).toArray().map { Int($0) }
        let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"), frozen: true)
        let config = try PEFTAdapter.load(folder.appendingPathComponent("adapter"), into: model)
        XCTAssertEqual(config.modulesToSave, ["lm_head", "embed_tokens"])
        model.eval()
        let logits = try XCTUnwrap(withNoGrad { model(inputsEmbeds: model.embed([ids])).logits })
        let c = compare(logits, try reference.tensor("logits", copy: true), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(c.ok, c.message)

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("peft-save-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try PEFTAdapter.save(model, config: config, baseModel: "vicuna-tiny", to: out.appendingPathComponent("a"))
        let keys = try SafeTensorsFile(url: out.appendingPathComponent("a/adapter_model.safetensors")).keys
        XCTAssertEqual(
            Set(try SafeTensorsFile(url: folder.appendingPathComponent("adapter/adapter_model.safetensors")).keys),
            Set(keys))
        XCTAssertTrue(keys.contains("base_model.model.lm_head.weight"))

        var lines: [String] = []
        try PEFTAdapter.merge(
            adapter: out.appendingPathComponent("a"), baseLLM: Fixtures.url("models/vicuna-tiny"),
            output: out.appendingPathComponent("merged"), maxShardBytes: 1 << 20
        ) { lines.append($0) }
        XCTAssertTrue(lines.last?.contains("replaced 2 (modules_to_save)") ?? false, "\(lines)")
        let merged = try CausalLM.load(directory: out.appendingPathComponent("merged"))
        let parameters = Dictionary(uniqueKeysWithValues: merged.namedParameters())
        for name in ["lm_head.weight", "model.embed_tokens.weight"] {
            XCTAssertEqual(
                try XCTUnwrap(parameters[name]).value.toArray(),
                try reference.tensor("merged." + name, copy: true).toArray(), name)
        }
        let mergedLogits = try XCTUnwrap(withNoGrad { merged(inputsEmbeds: merged.embed([ids])).logits })
        let m = compare(mergedLogits, try reference.tensor("merged_logits", copy: true), atol: 1e-4, rtol: 1e-4)
        XCTAssertTrue(m.ok, m.message)
    }

    func testTrainingUnfreezesTheModulesToSaveOnly() throws {
        let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"), frozen: true)
        let config = LoRAConfig(r: 2, alpha: 4, targetModules: ["q_proj"], modulesToSave: ["lm_head"])
        var generator = Generator(seed: 0)
        try model.attachLoRA(config, generator: &generator)
        XCTAssertTrue(try XCTUnwrap(model.namedParameters().first { $0.0 == "lm_head.weight" }).1.frozen)
        try model.trainModulesToSave(config)
        let trainable = model.namedParameters().filter { !$0.1.frozen }.map(\.0)
        XCTAssertTrue(trainable.contains("lm_head.weight"))
        XCTAssertEqual(trainable.filter { !$0.contains(".lora_") }, ["lm_head.weight"])

        // A name that matches nothing, or a module both adapted and saved, is refused by name.
        for (bad, text) in [
            (LoRAConfig(r: 2, alpha: 4, modulesToSave: ["lm_haed"]), "lm_haed"),
            (LoRAConfig(r: 2, alpha: 4, targetModules: ["q_proj"], modulesToSave: ["q_proj"]), "q_proj"),
            (LoRAConfig(r: 2, alpha: 4, modulesToSave: []), "modules_to_save")
        ] {
            let fresh = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"), frozen: true)
            XCTAssertThrowsError(try fresh.attachLoRA(bad, generator: &generator)) {
                XCTAssertTrue("\($0)".contains(text), "\($0)")
            }
        }
    }
}

/// LoRA dropout under activation checkpointing: the backward's recomputation draws the forward's masks (as
/// PyTorch's checkpoint restores the RNG state), so checkpointed gradients equal plain ones.
final class LoRADropoutCheckpointTests: XCTestCase {
    func testCheckpointedGradientsEqualPlainOnesWithDropout() throws {
        func gradients(checkpointing: Bool) throws -> [String: [Float]] {
            let model = try CausalLM.load(directory: Fixtures.url("models/vicuna-tiny"))
            var generator = Generator(seed: 3)
            try model.attachLoRA(LoRAConfig(r: 2, alpha: 4, dropout: 0.5), generator: &generator)
            for (key, parameter) in model.namedParameters() where key.contains("lora_B") {
                parameter.value = Tensor.randn(parameter.shape, std: 0.1, generator: &generator)
            }
            model.gradientCheckpointing = checkpointing
            model.train()
            let ids = [[5, 17, 9, 33, 2, 41, 8]]
            let logits = try XCTUnwrap(model(inputsEmbeds: model.embed(ids)).logits)
            logits.square().mean().backward()
            var out: [String: [Float]] = [:]
            for (key, parameter) in model.namedParameters() where key.contains(".lora_") {
                out[key] = try XCTUnwrap(parameter.grad, key).toArray()
            }
            return out
        }
        let plain = try gradients(checkpointing: false), checkpointed = try gradients(checkpointing: true)
        XCTAssertEqual(plain.count, 2 * 7 * 2)
        for (key, g) in plain {
            let c = try XCTUnwrap(checkpointed[key], key)
            for i in g.indices { XCTAssertEqual(c[i], g[i], accuracy: 1e-5 * max(1, abs(g[i])), "\(key)[\(i)]") }
        }
    }
}
