import Foundation
import MGLLaVA
import MGTestSupport
import XCTest

/// The named architecture presets against the published configs (Tests/Fixtures/real-configs) and against the
/// parameter totals of the real checkpoints: each total is derived from the config in a comment, and also read
/// from the fixture's `summary.json` (a manifest made from the real model's state_dict).
final class PresetTests: XCTestCase {
    func testLLMPresetsAreThePublishedConfigs() throws {
        let cases: [(LLMArchitecture, String)] = [
            (.vicuna7B, "vicuna-7b-v1.5"), (.vicuna13B, "vicuna-13b-v1.5"), (.llama3_8B, "Meta-Llama-3-8B-Instruct"),
            (.phi3Mini, "Phi-3-mini-4k-instruct"), (.yi1_5_34B, "Yi-1.5-34B-Chat")
        ]
        for (preset, folder) in cases {
            let url = Fixtures.url("real-configs/\(folder)/config.json")
            XCTAssertEqual(preset, try LLMArchitecture(LLMConfiguration.load(url)), folder)
        }
    }

    func testCLIPPresetIsThePublishedConfig() throws {
        let url = Fixtures.url("real-configs/clip-vit-large-patch14-336/config.json")
        XCTAssertEqual(CLIPVisionArchitecture.vitL14_336, CLIPVisionArchitecture(try CLIPVisionConfiguration.load(url)))
        XCTAssertEqual(CLIPVisionArchitecture.vitL14_336.numPositions, 577)
    }

    func testConvNeXtLargeIsTheTimmModel() {
        XCTAssertEqual(ConvNeXtArchitecture.large, ConvNeXtArchitecture.named("convnext_large"))
        XCTAssertEqual(ConvNeXtArchitecture.large.depths, [3, 3, 27, 3])
        XCTAssertEqual(ConvNeXtArchitecture.large.dims, [192, 384, 768, 1536])
    }

    /// The counting formulas agree with the modules themselves at tiny sizes (both layouts, GQA, tied head).
    func testCountFormulasMatchBuiltModules() {
        let llama = LLMArchitecture(
            layout: .llama, vocabSize: 37, hiddenSize: 16, intermediateSize: 24, numLayers: 2,
            numHeads: 4, numKeyValueHeads: 2)
        XCTAssertEqual(parameterCount(llama), builtCount(CausalLM(llama)))
        var tied = llama
        tied.tieWordEmbeddings = true
        XCTAssertEqual(parameterCount(tied), builtCount(CausalLM(tied)))
        let phi3 = LLMArchitecture(
            layout: .phi3, vocabSize: 37, hiddenSize: 16, intermediateSize: 24, numLayers: 2,
            numHeads: 4, numKeyValueHeads: 4, slidingWindow: 8)
        XCTAssertEqual(parameterCount(phi3), builtCount(CausalLM(phi3)))
        let clip = CLIPVisionArchitecture(
            hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
            imageSize: 8, patchSize: 4)
        XCTAssertEqual(parameterCount(clip), builtCount(CLIPVisionModel(clip)))
        let convnext = ConvNeXtArchitecture(depths: [1, 2], dims: [4, 8])
        XCTAssertEqual(parameterCount(convnext), builtCount(ConvNeXtTrunk(convnext)))
    }

    func testLLMPresetParameterCounts() throws {
        // Vicuna-7B: embed + lm_head 2·32000·4096 = 262,144,000; per layer q,k,v,o 4·4096² = 67,108,864 + MLP
        // 3·4096·11008 = 135,266,304 + norms 8,192 = 202,383,360, ×32 = 6,476,267,520; final norm 4,096.
        XCTAssertEqual(parameterCount(.vicuna7B), 6_738_415_616)
        // Vicuna-13B: 2·32000·5120 = 327,680,000; per layer 4·5120² = 104,857,600 + 3·5120·13824 = 212,336,640
        // + 10,240 = 317,204,480, ×40 = 12,688,179,200; final norm 5,120.
        XCTAssertEqual(parameterCount(.vicuna13B), 13_015_864_320)
        // Llama-3-8B: 2·128256·4096 = 1,050,673,152; per layer q,o 2·4096² = 33,554,432 + k,v (8 heads of 128)
        // 2·4096·1024 = 8,388,608 + 3·4096·14336 = 176,160,768 + 8,192 = 218,112,000, ×32 = 6,979,584,000; + 4,096.
        XCTAssertEqual(parameterCount(.llama3_8B), 8_030_261_248)
        // Phi-3-mini: 2·32064·3072 = 197,001,216; per layer qkv 3072·9216 = 28,311,552 + o 3072² = 9,437,184 +
        // gate_up 3072·16384 = 50,331,648 + down 8192·3072 = 25,165,824 + 6,144 = 113,252,352, ×32 =
        // 3,624,075,264; + 3,072.
        XCTAssertEqual(parameterCount(.phi3Mini), 3_821_079_552)
        // Yi-1.5-34B: 2·64000·7168 = 917,504,000; per layer q,o 2·7168² = 102,760,448 + k,v 2·7168·1024 =
        // 14,680,064 + 3·7168·20480 = 440,401,920 + 14,336 = 557,856,768, ×60 = 33,471,406,080; + 7,168.
        XCTAssertEqual(parameterCount(.yi1_5_34B), 34_388_917_248)

        let manifests: [(LLMArchitecture, String)] = [
            (.vicuna7B, "vicuna-7b-v1.5"), (.vicuna13B, "vicuna-13b-v1.5"), (.llama3_8B, "Meta-Llama-3-8B-Instruct"),
            (.phi3Mini, "Phi-3-mini-4k-instruct"), (.yi1_5_34B, "Yi-1.5-34B-Chat")
        ]
        for (preset, folder) in manifests {
            XCTAssertEqual(parameterCount(preset), try manifestTotal("real-configs/\(folder)"), folder)
        }
    }

    func testVisionPresetParameterCounts() throws {
        // CLIP ViT-L/14-336 vision_model: patch conv 1024·3·14·14 = 602,112 + class 1,024 + positions 577·1024 =
        // 590,848 + pre LayerNorm 2,048; per layer q,k,v,o 4·(1024² + 1024) = 4,198,400 + fc1 1024·4096 + 4096 =
        // 4,198,400 + fc2 4096·1024 + 1024 = 4,195,328 + two LayerNorms 4,096 = 12,596,224, ×24 = 302,309,376;
        // post LayerNorm 2,048.
        XCTAssertEqual(parameterCount(.vitL14_336), 303_507_456)
        XCTAssertEqual(
            parameterCount(.vitL14_336),
            try manifestTotal("real-configs/clip-vit-large-patch14-336/vision-tower-subset"))
        // ConvNeXt-L trunk: stem 3·16·192 + 192 + 384 = 9,792; blocks of 8c² + 58c: 3·306,048 + 3·1,201,920 +
        // 27·4,763,136 + 3·18,963,456 = 190,018,944; downsamples (LayerNorm, 2×2 conv, bias) 295,680 + 1,181,184 +
        // 4,721,664 = 6,198,528. (timm's convnext_large, 197,767,336, adds the head's LayerNorm 3,072 and its
        // classifier 1536·1000 + 1000.)
        XCTAssertEqual(parameterCount(.large), 196_227_264)
        XCTAssertEqual(
            parameterCount(.large),
            try manifestTotal("real-configs/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup/trunk-used-by-mgllava")
        )
    }

    /// `total_parameters` of a fixture manifest (summary.json: the real checkpoint's state_dict, buffers excluded).
    private func manifestTotal(_ folder: String) throws -> Int {
        let data = try Data(contentsOf: Fixtures.url(folder + "/summary.json"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(object["total_parameters"] as? Int, folder)
    }
}
