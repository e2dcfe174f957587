// Named CLIP vision towers: the exact `vision_config` values of the published HF configs (a copy of
// openai/clip-vit-large-patch14-336's is in Tests/Fixtures/real-configs/), so code that needs the real shape (the
// benchmarks, size estimates) does not repeat the numbers. Loading a real checkpoint still reads its config.json.

extension CLIPVisionArchitecture {
    /// `openai/clip-vit-large-patch14-336`, MG-LLaVA's low-resolution encoder: hidden 1024, MLP 4096, 24 layers
    /// of 16 heads, 336² images in 14² patches (a 24×24 grid, 577 positions with the class token), LayerNorm
    /// ε 1e-5, quick_gelu — 303,507,456 parameters in `vision_model.*` (pre and post LayerNorms included).
    public static let vitL14_336 = CLIPVisionArchitecture(
        hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16, numChannels: 3,
        imageSize: 336, patchSize: 14, layerNormEps: 1e-5, hiddenAct: "quick_gelu")
}
