import Foundation
import MGConfigs
import XCTest

/// The registry matches the files in `configs/`, every config is valid, and each SFT config differs from its
/// pretrain config in exactly the variables SPEC §3.2/§3.3 list.
final class ConfigRegistryTests: XCTestCase {
    /// Base names of every `.swift` under `configs/` except the registry itself.
    private func configFileNames() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("configs")
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else {
            throw XCTSkip("cannot list \(folder.path)")
        }
        return walker.compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" && $0.lastPathComponent != "Registry.swift" }
            .map { $0.deletingPathExtension().lastPathComponent }
    }

    func testNamesAreUniqueAndMatchFileNames() throws {
        let names = ConfigRegistry.names
        XCTAssertEqual(Set(names).count, names.count, "duplicate config names")
        XCTAssertEqual(Set(try configFileNames()), Set(names))
        XCTAssertEqual(try configFileNames().count, names.count)
        for name in names { XCTAssertEqual(ConfigRegistry.config(named: name)?.name, name) }
        XCTAssertNil(ConfigRegistry.config(named: "no_such_config"))
    }

    func testEveryConfigValidates() throws {
        for config in ConfigRegistry.all {
            XCTAssertNoThrow(try config.validate(), config.name)
        }
    }

    func testJSONRoundTrip() throws {
        for config in ConfigRegistry.all {
            let data = try JSONEncoder().encode(config)
            XCTAssertEqual(try JSONDecoder().decode(TrainConfig.self, from: data), config, config.name)
            XCTAssertEqual(try TrainConfig.decode(jsonObject: config.jsonObject()), config, config.name)
        }
    }

    func testVicuna7BValuesFromSpec() throws {
        let pre = try XCTUnwrap(ConfigRegistry.config(named: "fuse_more_vicuna7b_clip_L_14_336_pretrain_padding"))
        XCTAssertEqual(pre.maxLength, 1472)
        XCTAssertEqual(pre.batchSize, 32)
        XCTAssertEqual(pre.lr, 1e-3)
        XCTAssertEqual(pre.imageSizeAux, 768)
        XCTAssertTrue(pre.freezeLLM)
        let sft = try XCTUnwrap(ConfigRegistry.config(named: "fuse_more_vicuna7b_clip_L_14_336_sft_padding"))
        XCTAssertEqual(sft.pretrainedPth, "work_dirs/fuse_more_vicuna7b_clip_L_14_336_pretrain_padding/iter_4947.pth")
        XCTAssertEqual(sft.lr, 2e-5)
        XCTAssertFalse(sft.freezeLLM)
        XCTAssertEqual(sft.sampler, .lengthGrouped)
    }

    /// JSON keys whose values differ between two configs.
    private func differingKeys(_ a: TrainConfig, _ b: TrainConfig) throws -> Set<String> {
        let left = try a.jsonObject(), right = try b.jsonObject()
        return Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }
    }

    func testSFTDiffersFromPretrainExactlyAsSpecSays() throws {
        // SPEC §3.2: what the Vicuna-7B SFT config changes (val_dataset stands for its eval/val lists).
        let vicuna7B: Set<String> = [
            "name", "stage", "pretrained_pth", "data_path", "box_json_path", "batch_size", "lr", "save_steps",
            "save_total_limit", "freeze_llm", "sampler", "val_dataset"
        ]
        // SPEC §3.3 per family, relative to each family's own pretrain config.
        let expected: [(pretrain: String, sft: String, keys: Set<String>)] = [
            (
                "fuse_more_vicuna7b_clip_L_14_336_pretrain_padding", "fuse_more_vicuna7b_clip_L_14_336_sft_padding",
                vicuna7B
            ),
            (
                "fuse_vicuna13b_clip_L_14_336_pretrain_padding", "fuse_vicuna13b_clip_L_14_336_sft_padding",
                vicuna7B.union(["evaluate_max_tokens"])
            ),
            ("fuse_more_phi3_clip_L_14_336_pretrain_padding", "fuse_more_phi3_clip_L_14_336_sft_padding", vicuna7B),
            (
                "fuse_more_llama3_clip_L_14_336_pretrain_padding", "fuse_more_llama3_clip_L_14_336_sft_padding",
                vicuna7B.union(["accumulative_counts", "pin_memory"])
            ),
            (
                "fuse_more_yi34B_clip_L_14_336_pretrain_padding", "fuse_more_yi34B_clip_L_14_336_sft_padding",
                vicuna7B.subtracting(["val_dataset"])
            ),  // Yi SFT has no eval lists
            (
                "tiny_pretrain", "tiny_sft",
                [
                    "name", "stage", "pretrained_pth", "data_path", "box_json_path", "freeze_llm", "sampler",
                    "val_dataset", "max_epochs", "save_steps"
                ]
            )
        ]
        // The LoRA variants (no upstream MG-LLaVA config; XTuner's llm_lora recipe) against their full-SFT config.
        let lora: [(sft: String, lora: String, keys: Set<String>)] = [
            ("tiny_sft", "tiny_sft_lora", ["name", "freeze_llm", "llm_lora"]),
            (
                "fuse_more_vicuna7b_clip_L_14_336_sft_padding", "fuse_more_vicuna7b_clip_L_14_336_sft_lora",
                ["name", "lr", "freeze_llm", "llm_lora"]
            ),
            (
                "fuse_more_vicuna7b_clip_L_14_336_sft_lora", "fuse_more_vicuna7b_clip_L_14_336_sft_qlora",
                ["name", "llm_name_or_path"]
            )
        ]
        XCTAssertEqual(
            expected.count * 2 + lora.count, ConfigRegistry.names.count, "a config has no expected diff here")
        for (sftName, loraName, keys) in lora {
            let sft = try XCTUnwrap(ConfigRegistry.config(named: sftName))
            let variant = try XCTUnwrap(ConfigRegistry.config(named: loraName))
            XCTAssertEqual(try differingKeys(sft, variant), keys, loraName)
            XCTAssertNoThrow(try variant.validate(), loraName)
        }
        for (pretrainName, sftName, keys) in expected {
            let pre = try XCTUnwrap(ConfigRegistry.config(named: pretrainName))
            let sft = try XCTUnwrap(ConfigRegistry.config(named: sftName))
            XCTAssertEqual(pre.stage, .pretrain, pretrainName)
            XCTAssertEqual(sft.stage, .sft, sftName)
            XCTAssertEqual(try differingKeys(pre, sft), keys, sftName)
        }
    }

    func testFamilyPretrainDiffersFromVicuna7BAsSpecSays() throws {
        let base = try XCTUnwrap(ConfigRegistry.config(named: "fuse_more_vicuna7b_clip_L_14_336_pretrain_padding"))
        let expected: [String: Set<String>] = [
            "fuse_vicuna13b_clip_L_14_336_pretrain_padding": ["name", "batch_size"],
            "fuse_more_phi3_clip_L_14_336_pretrain_padding": ["name", "prompt_template"],
            "fuse_more_llama3_clip_L_14_336_pretrain_padding": ["name", "prompt_template", "batch_size"],
            "fuse_more_yi34B_clip_L_14_336_pretrain_padding": [
                "name", "prompt_template", "batch_size", "lr", "pin_memory"
            ]
        ]
        for (name, keys) in expected {
            XCTAssertEqual(try differingKeys(base, try XCTUnwrap(ConfigRegistry.config(named: name))), keys, name)
        }
    }

    func testCloseNames() {
        XCTAssertEqual(ConfigRegistry.closeNames(to: "tiny_pretrian").first, "tiny_pretrain")
        XCTAssertTrue(ConfigRegistry.closeNames(to: "llama3", limit: 2).allSatisfy { $0.contains("llama3") })
    }
}
