import MGLLaVA

// Weights of a model, counted from its architecture alone (no tensors), so the full-size presets can be checked
// without allocating them. Each formula is checked against the real module at a tiny size in PresetTests.

/// Parameters of a decoder-only LLM without biases: embedding table, per layer q/k/v/o (fused or not, the same
/// count), gate/up/down and two RMSNorms, the final norm and the LM head unless tied.
func parameterCount(_ a: LLMArchitecture) -> Int {
    precondition(!a.attentionBias && !a.mlpBias, "the count covers bias-free architectures only")
    let h = a.hiddenSize, q = a.numHeads * a.headDim, kv = a.numKeyValueHeads * a.headDim
    let layer = h * q + 2 * h * kv + q * h + 3 * h * a.intermediateSize + 2 * h
    return a.vocabSize * h * (a.tieWordEmbeddings ? 1 : 2) + a.numLayers * layer + h
}

/// Parameters of HF's `vision_model`: patch conv (no bias), class embedding, positions, pre LayerNorm, per layer
/// q/k/v/o with biases, fc1/fc2 with biases and two LayerNorms, post LayerNorm.
func parameterCount(_ a: CLIPVisionArchitecture) -> Int {
    let h = a.hiddenSize, f = a.intermediateSize
    let embeddings = h * a.numChannels * a.patchSize * a.patchSize + h + a.numPositions * h
    let layer = 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h
    return embeddings + 2 * h + a.numHiddenLayers * layer + 2 * h
}

/// Parameters of the timm ConvNeXt trunk (stem and stages): 4×4 stem conv with bias and its LayerNorm; per stage
/// after the first a LayerNorm and 2×2 conv with bias; per block a depthwise 7×7 conv with bias, LayerNorm,
/// fc1/fc2 with biases and the layer-scale gamma (8c² + 58c).
func parameterCount(_ a: ConvNeXtArchitecture) -> Int {
    var total = a.inChannels * 16 * a.dims[0] + a.dims[0] + 2 * a.dims[0]
    for (s, c) in a.dims.enumerated() {
        if s > 0 { total += 2 * a.dims[s - 1] + a.dims[s - 1] * c * 4 + c }
        total += a.depths[s] * (49 * c + c + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c)
    }
    return total
}

/// Parameters of a built module (what the formulas must agree with).
func builtCount(_ module: Module) -> Int {
    module.namedParameters().reduce(0) { $0 + $1.1.count }
}
