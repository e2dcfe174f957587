import MGLLaVA

extension StackStepBench {
    /// The GEMMs the step runs, (m, k, n, count) as C[m,n] = A[m,k]·B[n,k]ᵀ: the towers' forward (CLIP up to the
    /// selected layer), the projector, and the LLM's forward (twice per layer under checkpointing), input
    /// gradients, and weight gradients when it is trained (with LoRA: the adapters' products instead).
    public func gemmShapes(_ a: LLMArchitecture, tokens l: Int) -> GemmShapes {
        let clip = CLIPVisionArchitecture.vitL14_336
        var shapes = VisionGemmShapes.clipPatchEmbedding(clip)  // CLIP patch embedding as a GEMM
        let clipLayers = clip.numHiddenLayers - 1  // hidden state −2 of 24 layers
        shapes += VisionGemmShapes.clipLayers(clip, layers: clipLayers)
        shapes += VisionGemmShapes.convNeXt(.large, imageSize: BenchInputs.auxImageSize)
        let d = a.hiddenSize, f = a.intermediateSize, hd = a.headDim, heads = a.numHeads
        let kv = a.numKeyValueHeads * hd
        let p = clip.numPatches, v = clip.hiddenSize
        let trained = stage == .sft && loraRank == nil
        // Projector (trained in both stages): forward, input gradient is not needed (the towers are frozen), weight
        // gradients.
        shapes += [(p, v, d, 1), (p, d, d, 1), (d, p, v, 1), (d, p, d, 1), (p, d, d, 1)]
        let linears: [(Int, Int, Int)] =
            a.layout == .phi3
            ? [(d, d + 2 * kv, 1), (d, d, 1), (d, 2 * f, 1), (f, d, 1)]
            : [(d, d, 2), (d, kv, 2), (d, f, 2), (f, d, 1)]
        let forwards = checkpointing ? 2 : 1
        for (i, o, c) in linears {
            shapes.append((l, i, o, c * forwards * a.numLayers))
            shapes.append((l, o, i, c * a.numLayers))  // dX
            if trained { shapes.append((o, l, i, c * a.numLayers)) }  // dW
            if let r = loraRank {
                // x·Aᵀ, then ·Bᵀ (each forward); backward: dY·B, dB, dA, and the input gradient through A.
                shapes += [(l, i, r, c * forwards * a.numLayers), (l, r, o, c * forwards * a.numLayers)]
                shapes += [(l, o, r, c * a.numLayers), (o, l, r, c * a.numLayers)]
                shapes += [(r, l, i, c * a.numLayers), (l, r, i, c * a.numLayers)]
            }
        }
        shapes += [
            (l, hd, l, heads * forwards * a.numLayers), (l, l, hd, heads * forwards * a.numLayers),
            (l, hd, l, heads * a.numLayers), (l, l, hd, 3 * heads * a.numLayers)
        ]
        shapes += [(l, d, a.vocabSize, 1), (l, a.vocabSize, d, 1)]
        if trained { shapes.append((a.vocabSize, l, d, 1)) }
        return shapes
    }
}
