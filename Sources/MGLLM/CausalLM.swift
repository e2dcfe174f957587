import Foundation
import MGNN

/// A decoder-only LLM with an LM head — HF `LlamaForCausalLM` / `Phi3ForCausalLM` with their checkpoint keys
/// (`model.embed_tokens`, `model.layers.N.…`, `model.norm`, `lm_head`). Its forward pass embeds, runs the
/// `DecoderLayer`s in order (each owns its attention and MLP), applies the final norm and the head.
public final class CausalLM: Module {
    public let architecture: LLMArchitecture
    public let embedTokens: Embedding
    public let layers: ModuleList<DecoderLayer>
    public let norm: RMSNorm
    /// nil when the head is tied to the embedding (`tie_word_embeddings`).
    public let lmHead: Linear?
    let inverseFrequencies: [Float]
    /// Activation checkpointing of the decoder layers while training (HF `gradient_checkpointing_enable`, on in
    /// every upstream MG-LLaVA config): each layer keeps only its input and recomputes its activations during
    /// backward, so a 32-layer stack holds one layer's activations instead of all of them. Has no effect without a
    /// graph (inference, a frozen LLM whose input needs no gradient) or with a KV cache.
    public var gradientCheckpointing = false

    /// Builds the model with zero weights (memory is mapped lazily until the weights are loaded).
    public init(_ architecture: LLMArchitecture) {
        self.architecture = architecture
        embedTokens = Embedding(architecture.vocabSize, architecture.hiddenSize)
        layers = ModuleList((0..<architecture.numLayers).map { DecoderLayer(architecture, layerIndex: $0) })
        norm = RMSNorm(architecture.hiddenSize, eps: architecture.rmsNormEps)
        lmHead =
            architecture.tieWordEmbeddings ? nil : Linear(architecture.hiddenSize, architecture.vocabSize, bias: false)
        inverseFrequencies = architecture.inverseFrequencies
        super.init()
    }

    public override var children: [(String, Module)] {
        var list: [(String, Module)] = [
            ("model", ModuleGroup(["embed_tokens": embedTokens, "layers": layers, "norm": norm]))
        ]
        if let lmHead { list.append(("lm_head", lmHead)) }
        return list
    }

    // MARK: - Forward

    /// What a forward pass returns.
    public struct Output {
        /// [B, L, V] (or [B, 1, V] with `logitsForLastOnly`); nil when logits were not requested.
        public var logits: Tensor?
        /// With `outputHiddenStates`: embeddings, each layer's output, and — as HF — the last entry after the
        /// final norm. [B, L, H] each.
        public var hiddenStates: [Tensor]
        /// Output of the final norm, [B, L, H].
        public var lastHiddenState: Tensor
    }

    /// Token embeddings for ids [B][L] → [B, L, H].
    public func embed(_ ids: [[Int]]) -> Tensor {
        let b = ids.count, l = ids.first?.count ?? 0
        precondition(ids.allSatisfy { $0.count == l }, "embed: ragged id rows")
        return embedTokens(ids.flatMap { $0 }, shape: [b, l])
    }

    /// Runs the decoder on embeddings [B, L, H].
    ///
    /// - attentionMask: [B][S] with 1 for real and 0 for padded positions, over the cached and the new positions
    ///   (S = cache length + L); nil = all real.
    /// - positionIds: [B][L]; nil = cache length + 0..<L for every row.
    /// - cache: when given, keys/values are appended to it and attention covers cached + new positions.
    public func callAsFunction(
        inputsEmbeds x: Tensor, attentionMask: [[Int]]? = nil, positionIds: [[Int]]? = nil,
        cache: KVCache? = nil, outputHiddenStates: Bool = false, computeLogits: Bool = true,
        logitsForLastOnly: Bool = false
    ) -> Output {
        let a = architecture
        precondition(
            x.rank == 3 && x.shape[2] == a.hiddenSize, "LLM: embeddings \(x.shape), expected [B, L, \(a.hiddenSize)]")
        let b = x.shape[0], l = x.shape[1]
        let past = cache?.length ?? 0
        let total = past + l
        let positions = positionIds ?? Array(repeating: Array(past..<total), count: b)
        precondition(
            positions.count == b && positions.allSatisfy { $0.count == l }, "LLM: position ids must be [\(b)][\(l)]")
        let rotary = rotaryTables(positions)
        var mask: Tensor? = nil
        if let attentionMask {
            precondition(
                attentionMask.count == b && attentionMask.allSatisfy { $0.count == total },
                "LLM: attention mask must be [\(b)][\(total)] (cached + new positions)")
            mask = Tensor(attentionMask.flatMap { $0.map { Float($0) } }, shape: [b, 1, 1, total])
        }
        cache?.reserve(l)
        var h = x
        var states = outputHiddenStates ? [x] : []
        for (i, layer) in layers.enumerated() {
            let run = { (h: Tensor) -> Tensor in layer(h, rotary: rotary, mask: mask, cache: cache) }
            if gradientCheckpointing && cache == nil {
                // The backward's recomputation must draw the forward's LoRA dropout masks (as PyTorch's checkpoint
                // restores the RNG state): every run of the layer starts from the generators' state before it.
                let dropouts = layer.loraDropouts().map(\.1), start = dropouts.map(\.generator)
                let replay = { (h: Tensor) -> Tensor in
                    for (dropout, state) in zip(dropouts, start) { dropout.generator = state }
                    return run(h)
                }
                h = Tensor.checkpointed(h, parameters: layer.namedParameters().map { $0.1.tensor }, replay)
            } else {
                h = run(h)
            }
            if outputHiddenStates && i < layers.count - 1 { states.append(h) }
        }
        cache?.advance(l)
        let final = norm(h)
        if outputHiddenStates { states.append(final) }
        var logits: Tensor? = nil
        if computeLogits {
            let source = logitsForLastOnly ? final.slice(axis: 1, l - 1, l) : final
            logits = lmHead.map { $0(source) } ?? source.linear(weight: embedTokens.weight.tensor)
        }
        return Output(logits: logits, hiddenStates: states, lastHiddenState: final)
    }

    /// cos/sin [B, L, hd] for the given positions.
    func rotaryTables(_ positions: [[Int]]) -> (cos: Tensor, sin: Tensor) {
        let hd = architecture.headDim, half = hd / 2
        let b = positions.count, l = positions.first?.count ?? 0
        let cos = Tensor.uninitialized([b, l, hd]), sin = Tensor.uninitialized([b, l, hd])
        let cp = cos.storage.floats, sp = sin.storage.floats
        for bi in 0..<b {
            for t in 0..<l {
                let base = (bi * l + t) * hd
                let p = Float(positions[bi][t])
                for i in 0..<half {
                    let angle = p * inverseFrequencies[i]
                    let c = Foundation.cos(angle), s = Foundation.sin(angle)
                    cp[base + i] = c; cp[base + half + i] = c
                    sp[base + i] = s; sp[base + half + i] = s
                }
            }
        }
        return (cos, sin)
    }

    // MARK: - Loss

    /// HF's causal-LM loss: logits[:, t] predict labels[:, t + 1]; mean cross-entropy over labels ≠ −100.
    public static func causalLoss(logits: Tensor, labels: [[Int]]) -> Tensor {
        let b = logits.shape[0], l = logits.shape[1], v = logits.shape[2]
        precondition(labels.count == b && labels.allSatisfy { $0.count == l }, "loss: labels must be [\(b)][\(l)]")
        let shifted = logits.slice(axis: 1, 0, l - 1).reshaped([b * (l - 1), v])
        let targets = labels.flatMap { $0.dropFirst() }
        return shifted.crossEntropy(targets: targets)
    }

    // MARK: - Weights

    /// Keys that older checkpoints hold and the model does not use (`rotary_emb.inv_freq` buffers saved by
    /// transformers ≤ 4.30, e.g. Vicuna-1.5's `.bin` shards).
    public static func isIgnoredKey(_ key: String) -> Bool { key.hasSuffix("rotary_emb.inv_freq") }
}
