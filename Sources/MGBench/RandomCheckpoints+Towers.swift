import Foundation
import MGLLaVA

extension RandomCheckpoints {
    /// Random CLIP (float32, `vision_model.*`), ConvNeXt-L (float32, open_clip keys) and MG-LLaVA modules (bf16)
    /// beside the LLM folder: `<llm>-clip/`, `<llm>-convnext/`, `<llm>-modules.safetensors`; `log` receives the
    /// closing line.
    public static func writeTowers(clipConfig: URL, llm: URL, log: (String) -> Void) throws {
        var gen = Generator(seed: 5)
        func random(_ module: Module, dtype: DType, keep: (String) -> Bool = { _ in true }) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (k, p) in module.namedParameters() where keep(k) {
                let t = Tensor.rand(p.shape, low: -0.03, high: 0.03, generator: &gen) + (p.shape.count == 1 ? 1 : 0)
                out[k] = dtype == .float32 ? t : t.converted(to: dtype)
            }
            return out
        }
        let base = llm.deletingLastPathComponent(), name = llm.lastPathComponent
        let clipDir = base.appendingPathComponent(name + "-clip"),
            convDir = base.appendingPathComponent(name + "-convnext")
        for d in [clipDir, convDir] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        try? FileManager.default.removeItem(at: clipDir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: clipConfig, to: clipDir.appendingPathComponent("config.json"))
        let clip = CLIPVisionModel(CLIPVisionArchitecture(try CLIPVisionConfiguration.load(clipConfig)))
        try SafeTensorsWriter.write(
            random(clip, dtype: .float32), to: clipDir.appendingPathComponent("model.safetensors"))
        let trunk = ConvNeXtTrunk(.large)
        let openCLIP: [String: Any] = [
            "model_cfg": ["embed_dim": 768, "vision_cfg": ["timm_model_name": "convnext_large", "image_size": 320]],
            "preprocess_cfg": ["mean": OpenCLIPConfiguration.openAIMean, "std": OpenCLIPConfiguration.openAIStd]
        ]
        try JSONSerialization.data(withJSONObject: openCLIP).write(
            to: convDir.appendingPathComponent("open_clip_config.json"))
        try SafeTensorsWriter.write(
            random(trunk, dtype: .float32), to: convDir.appendingPathComponent("open_clip_pytorch_model.safetensors"))
        let decoded = try LLMConfiguration.load(llm.appendingPathComponent("config.json"))
        let skeleton = MGLLaVAModel(
            visualEncoder: clip, visualEncoderAux: trunk, llm: CausalLM(try LLMArchitecture(decoded)))
        var modules: [String: Tensor] = [:]
        for (k, v) in random(
            skeleton, dtype: .bfloat16, keep: { !$0.hasPrefix("llm.") && !$0.hasPrefix("visual_encoder") })
        {
            modules[k] = v
        }
        try SafeTensorsWriter.write(modules, to: base.appendingPathComponent(name + "-modules.safetensors"))
        log("wrote \(clipDir.path), \(convDir.path) and \(name)-modules.safetensors")
    }
}
