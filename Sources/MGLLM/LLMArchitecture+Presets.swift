// Named architectures of the LLMs MG-LLaVA pairs with its vision towers: the exact values of each model's published
// HF `config.json` (copies in Tests/Fixtures/real-configs/), so code that needs a real shape (the benchmarks, size
// estimates) does not repeat the numbers. Loading a real checkpoint still reads its own config.json.

extension LLMArchitecture {
    /// `lmsys/vicuna-7b-v1.5` (LLaMA-2-7B layout): vocab 32000, hidden 4096, MLP 11008, 32 layers of 32 heads
    /// (no GQA), RMSNorm ε 1e-5, RoPE θ 10000, 4096 positions, untied embeddings — 6,738,415,616 parameters.
    public static let vicuna7B = LLMArchitecture(
        layout: .llama, vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32,
        numKeyValueHeads: 32, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096)

    /// `lmsys/vicuna-13b-v1.5` (LLaMA-2-13B layout): vocab 32000, hidden 5120, MLP 13824, 40 layers of 40 heads
    /// (no GQA), RMSNorm ε 1e-5, RoPE θ 10000, 4096 positions, untied embeddings — 13,015,864,320 parameters.
    public static let vicuna13B = LLMArchitecture(
        layout: .llama, vocabSize: 32000, hiddenSize: 5120, intermediateSize: 13824, numLayers: 40, numHeads: 40,
        numKeyValueHeads: 40, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096)

    /// `meta-llama/Meta-Llama-3-8B-Instruct`: vocab 128256, hidden 4096, MLP 14336, 32 layers of 32 query heads
    /// and 8 key/value heads (GQA), RMSNorm ε 1e-5, RoPE θ 500000 (no scaling), 8192 positions, untied
    /// embeddings — 8,030,261,248 parameters.
    public static let llama3_8B = LLMArchitecture(
        layout: .llama, vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32,
        numKeyValueHeads: 8, rmsNormEps: 1e-5, ropeTheta: 500000, maxPositionEmbeddings: 8192)

    /// `microsoft/Phi-3-mini-4k-instruct` (Phi-3 layout: fused `qkv_proj` and `gate_up_proj`): vocab 32064,
    /// hidden 3072, MLP 8192, 32 layers of 32 heads (no GQA), RMSNorm ε 1e-5, RoPE θ 10000, 4096 positions,
    /// sliding window 2047, untied embeddings — 3,821,079,552 parameters.
    public static let phi3Mini = LLMArchitecture(
        layout: .phi3, vocabSize: 32064, hiddenSize: 3072, intermediateSize: 8192, numLayers: 32, numHeads: 32,
        numKeyValueHeads: 32, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 4096, slidingWindow: 2047)

    /// `01-ai/Yi-1.5-34B-Chat` (LLaMA layout): vocab 64000, hidden 7168, MLP 20480, 60 layers of 56 query heads
    /// and 8 key/value heads (GQA), RMSNorm ε 1e-6, RoPE θ 5000000, 4096 positions, untied embeddings —
    /// 34,388,917,248 parameters.
    public static let yi1_5_34B = LLMArchitecture(
        layout: .llama, vocabSize: 64000, hiddenSize: 7168, intermediateSize: 20480, numLayers: 60, numHeads: 56,
        numKeyValueHeads: 8, rmsNormEps: 1e-6, ropeTheta: 5_000_000, maxPositionEmbeddings: 4096)
}
