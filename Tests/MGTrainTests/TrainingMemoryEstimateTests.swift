import Foundation
import MGConfigs
import MGLLaVA
import MGTestSupport
import MGTrain
import XCTest

/// `TrainingMemoryEstimate` (`train --estimate-memory`): its counts equal the models it describes, built and
/// loaded for real; the parts follow the config's mode; a folder with only its config is counted from it.
final class TrainingMemoryEstimateTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mgmemory-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try EmbeddedDefault.ensure(root: root, dataset: EmbeddedDefaultTests.smallData)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func config(_ name: String) throws -> TrainConfig { try XCTUnwrap(ConfigRegistry.config(named: name)) }

    private func count(_ parameters: [Parameter]) -> Int { parameters.reduce(0) { $0 + $1.count } }

    /// The LLM's and the LoRA adapters' parameter counts equal the built modules', for both layouts, tied or not,
    /// every linear or a named subset.
    func testCountsEqualTheBuiltModules() throws {
        var gen = Generator(seed: 5)
        for (layout, tied) in [(LLMArchitecture.Layout.llama, false), (.llama, true), (.phi3, false)] {
            let a = LLMArchitecture(
                layout: layout, vocabSize: 37, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4,
                numKeyValueHeads: layout == .phi3 ? 4 : 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10_000,
                maxPositionEmbeddings: 64, tieWordEmbeddings: tied)
            let llm = CausalLM(a)
            XCTAssertEqual(TrainingMemoryEstimate.parameters(a), count(llm.parameters()), "\(layout) tied \(tied)")
            let targets: [String]? = layout == .phi3 ? ["qkv_proj", "down_proj"] : ["q_proj", "v_proj"]
            let saved = tied ? ["embed_tokens"] : ["lm_head", "embed_tokens", "o_proj"]
            for lora in [
                LoRAConfig(r: 3, alpha: 6), LoRAConfig(r: 2, alpha: 4, targetModules: targets),
                LoRAConfig(r: 2, alpha: 4, targetModules: targets, modulesToSave: saved)
            ] {
                let fresh = CausalLM(a)
                let before = count(fresh.parameters())
                _ = try fresh.attachLoRA(lora, generator: &gen)
                try fresh.trainModulesToSave(lora)
                XCTAssertEqual(
                    TrainingMemoryEstimate.loraParameters(a, lora),
                    count(fresh.parameters()) - before
                        + count(fresh.namedParameters().filter { !$0.1.frozen && !$0.0.contains(".lora_") }.map(\.1)),
                    "\(layout) targets \(lora.targetModules ?? ["all"]) saving \(lora.modulesToSave ?? [])")
            }
        }
    }

    /// `visual_encoder_lora`'s adapter count equals the adapters attached to the loaded CLIP (all linears, or some).
    func testCLIPLoRACountEqualsTheAttachedAdapters() throws {
        let folder = Fixtures.url("models/clip-vit-tiny")
        let configuration = try CLIPVisionConfiguration.load(folder)
        for lora in [LoRAConfig(r: 3, alpha: 6), LoRAConfig(r: 2, alpha: 4, targetModules: ["q_proj", "fc2"])] {
            let clip = try CLIPVisionModel.load(directory: folder)
            let before = count(clip.parameters())
            var gen = Generator(seed: 2)
            try clip.attachLoRA(lora, generator: &gen)
            XCTAssertEqual(
                TrainingMemoryEstimate.clipLoRAParameters(configuration, lora), count(clip.parameters()) - before)
        }
    }

    /// From the embedded default's folders: the stored bytes and counts of what `MGLLaVAModel.load` loads, and
    /// each mode's parts (full: float32 LLM; frozen and LoRA: the base as stored).
    func testEstimateFromTheFilesMatchesTheLoadedModel() throws {
        let sft = try config("tiny_sft")
        let estimate = try TrainingMemoryEstimate(config: sft, root: root)
        func url(_ p: String) -> URL { TrainingRun.resolve(p, root: root) }
        let model = try MGLLaVAModel.load(
            llm: url(sft.llmNameOrPath), visualEncoder: url(sft.visualEncoderNameOrPath),
            visualEncoderAux: url(sft.visualEncoderAuxPath))
        let llmParameters = count(model.llm.parameters())
        let towers = count(model.visualEncoder.parameters()) + count(model.visualEncoderAux.parameters())
        let modules = count(model.parameters()) - llmParameters - towers
        XCTAssertEqual(estimate.mode, .full)
        XCTAssertEqual(estimate.llmWeightBytes, 4 * llmParameters)
        XCTAssertEqual(estimate.trainableParameters, llmParameters + modules)
        XCTAssertEqual(estimate.trainingStateBytes, 16 * (llmParameters + modules) - 4 * llmParameters)
        XCTAssertEqual(estimate.towerBytes, 4 * towers)  // the tiny towers are stored in float32

        let storedLLM = try Checkpoint.open(url(sft.llmNameOrPath)).infos().reduce(0) { $0 + $1.byteCount }
        let pretrain = try TrainingMemoryEstimate(config: try config("tiny_pretrain"), root: root)
        XCTAssertEqual(pretrain.mode, .frozen)
        XCTAssertEqual(pretrain.llmWeightBytes, storedLLM)
        XCTAssertEqual(pretrain.trainableParameters, modules)

        let loraConfig = try config("tiny_sft_lora")
        let lora = try TrainingMemoryEstimate(config: loraConfig, root: root)
        XCTAssertEqual(lora.mode, .lora)
        XCTAssertEqual(lora.llmWeightBytes, storedLLM)
        var gen = Generator(seed: 1)
        let loraSettings = try XCTUnwrap(loraConfig.llmLoRA)
        _ = try model.llm.attachLoRA(loraSettings, generator: &gen)
        try model.llm.trainModulesToSave(loraSettings)
        let saved = count(model.llm.namedParameters().filter { !$0.1.frozen && !$0.0.contains(".lora_") }.map(\.1))
        XCTAssertGreaterThan(saved, 0)  // tiny_sft_lora trains lm_head and embed_tokens whole
        XCTAssertEqual(lora.trainableParameters, count(model.llm.parameters()) - llmParameters + saved + modules)
        // Checkpointing keeps one layer's tensors instead of every layer's.
        var on = loraConfig, off = loraConfig
        on.useActivationCheckpointing = true
        off.useActivationCheckpointing = false
        let checkpointed = try TrainingMemoryEstimate(config: on, root: root)
        let unCheckpointed = try TrainingMemoryEstimate(config: off, root: root)
        XCTAssertGreaterThan(unCheckpointed.activationBytes, checkpointed.activationBytes)
        XCTAssertEqual(
            unCheckpointed.totalBytes - checkpointed.totalBytes,
            unCheckpointed.activationBytes - checkpointed.activationBytes)
    }

    /// Folders holding only their configs (the released Vicuna-7B, CLIP ViT-L/14-336 and ConvNeXt-L): the LLM in
    /// its torch_dtype (float16: 2 bytes), the towers in float32; a Vicuna-7B's 6.74 B parameters.
    func testConfigOnlyFoldersAreCountedFromTheirConfigs() throws {
        var c = try config("fuse_more_vicuna7b_clip_L_14_336_sft_lora")
        c.llmNameOrPath = Fixtures.url("real-configs/vicuna-7b-v1.5").path
        c.visualEncoderNameOrPath = Fixtures.url("real-configs/clip-vit-large-patch14-336").path
        c.visualEncoderAuxPath = Fixtures.url("real-configs/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup").path
        let estimate = try TrainingMemoryEstimate(config: c, root: root)
        // The published models' parameter counts.
        XCTAssertEqual(TrainingMemoryEstimate.parameters(.vicuna7B), 6_738_415_616)
        XCTAssertEqual(TrainingMemoryEstimate.parameters(.vicuna13B), 13_015_864_320)
        XCTAssertEqual(TrainingMemoryEstimate.parameters(.llama3_8B), 8_030_261_248)
        XCTAssertEqual(TrainingMemoryEstimate.parameters(.phi3Mini), 3_821_079_552)
        XCTAssertEqual(estimate.llmWeightBytes, 2 * 6_738_415_616)
        // CLIP ViT-L/14-336's vision tower (303.5 M) and ConvNeXt-L's trunk (~196 M) in float32.
        XCTAssertEqual(Double(estimate.towerBytes) / 4e6, 500, accuracy: 10)
        // r 512 on the seven linears of 32 layers: 1.2 B adapter parameters.
        XCTAssertEqual(
            TrainingMemoryEstimate.loraParameters(.vicuna7B, try XCTUnwrap(c.llmLoRA)),
            32 * 512 * (4 * 8192 + 3 * (4096 + 11008)))
    }

    /// The quantized column's bytes equal what llama-quantize wrote for the same shapes (Q4_K_M and Q8_0 files).
    func testQuantizedBytesEqualLlamaQuantizesFiles() throws {
        for (file, type) in [
            ("gguf/llama-256-q4_k_m.gguf", GGUFQuantizationType.q4_K_M), ("gguf/llama-256-q8_0.gguf", .q8_0)
        ] {
            let url = Fixtures.url(file)
            let a = try LLMArchitecture(GGUFLLM(path: url.path).configuration, path: url.path)
            let stored = try Checkpoint.open(url).infos().reduce(0) { $0 + $1.byteCount }
            XCTAssertEqual(try TrainingMemoryEstimate.quantizedBytes(a, type: type), stored, file)
        }
    }

    /// A missing LLM folder names the config field.
    func testMissingFolderNamesTheField() throws {
        var c = try config("tiny_sft")
        c.llmNameOrPath = "no/such/llm"
        XCTAssertThrowsError(try TrainingMemoryEstimate(config: c, root: root)) { error in
            XCTAssertTrue("\(error)".contains("llm_name_or_path"), "\(error)")
        }
    }
}
