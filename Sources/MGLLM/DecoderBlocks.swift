import Foundation
import MGNN

// The blocks of a LLaMA / Phi-3 decoder layer (HF `LlamaDecoderLayer`, `LlamaAttention`, `LlamaMLP`), each with
// its own forward pass; `CausalLM` embeds, runs the layers in order, norms and projects. Keys follow the HF
// checkpoints: LLaMA has separate q/k/v/o and gate/up/down projections; Phi-3 fuses q, k, v into `qkv_proj`
// (rows [q; k; v]) and gate, up into `gate_up_proj` (rows [gate; up]). Weights start at zero (memory is mapped
// lazily) and come from a checkpoint.

// MARK: - Attention

/// A decoder layer's self-attention (Llama or Phi-3 layout) with HF's key names: projections, RoPE, the KV cache,
/// causal attention with padding mask and sliding window, output projection.
public final class DecoderAttention: Module {
    /// LLaMA: separate q/k/v projections; Phi-3: one fused `qkv_proj`.
    public enum Projections {
        case separate(q: Linear, k: Linear, v: Linear)
        case fused(qkv: Linear)
    }

    let arch: LLMArchitecture
    public let projections: Projections
    public let oProj: Linear
    /// This layer's slot in a `KVCache` (HF's `layer_idx`).
    public let layerIndex: Int

    init(_ arch: LLMArchitecture, layerIndex: Int) {
        self.arch = arch
        self.layerIndex = layerIndex
        let q = arch.numHeads * arch.headDim, kv = arch.numKeyValueHeads * arch.headDim
        switch arch.layout {
        case .llama:
            projections = .separate(
                q: Linear(arch.hiddenSize, q, bias: arch.attentionBias),
                k: Linear(arch.hiddenSize, kv, bias: arch.attentionBias),
                v: Linear(arch.hiddenSize, kv, bias: arch.attentionBias))
        case .phi3:
            projections = .fused(qkv: Linear(arch.hiddenSize, q + 2 * kv, bias: arch.attentionBias))
        }
        oProj = Linear(q, arch.hiddenSize, bias: arch.attentionBias)
        super.init()
    }

    public override var children: [(String, Module)] {
        switch projections {
        case .separate(let q, let k, let v): return [("q_proj", q), ("k_proj", k), ("v_proj", v), ("o_proj", oProj)]
        case .fused(let qkv): return [("qkv_proj", qkv), ("o_proj", oProj)]
        }
    }

    /// Self-attention on the normed hidden states x [B, L, H] → [B, L, H].
    ///
    /// - rotary: cos and sin [B, L, hd] for the positions of x (`CausalLM` computes them once per forward pass).
    /// - mask: [B, 1, 1, S], 1 for real and 0 for padded key positions (S = cached + new positions); nil = all real.
    /// - cache: when given, this layer's keys and values are written at the cache's current length (the positions
    ///   before this forward pass; `CausalLM` advances it after the last layer) and attention covers the cached and
    ///   the new positions.
    public func callAsFunction(
        _ x: Tensor, rotary: (cos: Tensor, sin: Tensor), mask: Tensor?, cache: KVCache?
    ) -> Tensor {
        let b = x.shape[0], l = x.shape[1]
        var (q, k, v) = project(x)
        q = q.applyingRotary(cos: rotary.cos, sin: rotary.sin)
        k = k.applyingRotary(cos: rotary.cos, sin: rotary.sin)
        let attended: Tensor
        if let cache {
            let past = cache.length
            cache.write(layer: layerIndex, key: k, value: v)
            attended = Tensor.scaledDotProductAttention(
                query: q, key: cache.keys[layerIndex], value: cache.values[layerIndex], mask: mask, isCausal: true,
                causalOffset: past, slidingWindow: arch.slidingWindow, keyLength: past + l)
        } else {
            attended = Tensor.scaledDotProductAttention(
                query: q, key: k, value: v, mask: mask, isCausal: true,
                slidingWindow: arch.slidingWindow)
        }
        let merged = attended.transposed(1, 2).reshaped([b, l, arch.numHeads * arch.headDim])
        return oProj(merged)
    }

    /// Projects [B, L, H] to q [B, heads, L, hd], k and v [B, kvHeads, L, hd].
    private func project(_ x: Tensor) -> (Tensor, Tensor, Tensor) {
        let b = x.shape[0], l = x.shape[1], hd = arch.headDim
        let q: Tensor, k: Tensor, v: Tensor
        switch projections {
        case .separate(let qp, let kp, let vp):
            (q, k, v) = (qp(x), kp(x), vp(x))
        case .fused(let qkv):
            let parts = qkv(x).split(
                [arch.numHeads * hd, arch.numKeyValueHeads * hd, arch.numKeyValueHeads * hd], axis: 2)
            (q, k, v) = (parts[0], parts[1], parts[2])
        }
        func heads(_ t: Tensor, _ n: Int) -> Tensor { t.reshaped([b, l, n, hd]).transposed(1, 2) }
        return (heads(q, arch.numHeads), heads(k, arch.numKeyValueHeads), heads(v, arch.numKeyValueHeads))
    }
}

// MARK: - MLP

/// A decoder layer's gated SiLU MLP (Llama or Phi-3 layout) with HF's key names.
public final class DecoderMLP: Module {
    /// LLaMA: separate gate/up projections; Phi-3: one fused `gate_up_proj` (rows [gate; up]).
    public enum Projections {
        case separate(gate: Linear, up: Linear)
        case fused(gateUp: Linear)
    }

    public let projections: Projections
    public let downProj: Linear
    let intermediate: Int

    init(_ arch: LLMArchitecture) {
        intermediate = arch.intermediateSize
        switch arch.layout {
        case .llama:
            projections = .separate(
                gate: Linear(arch.hiddenSize, arch.intermediateSize, bias: arch.mlpBias),
                up: Linear(arch.hiddenSize, arch.intermediateSize, bias: arch.mlpBias))
        case .phi3:
            projections = .fused(gateUp: Linear(arch.hiddenSize, 2 * arch.intermediateSize, bias: arch.mlpBias))
        }
        downProj = Linear(arch.intermediateSize, arch.hiddenSize, bias: arch.mlpBias)
        super.init()
    }

    public override var children: [(String, Module)] {
        switch projections {
        case .separate(let gate, let up): return [("gate_proj", gate), ("up_proj", up), ("down_proj", downProj)]
        case .fused(let gateUp): return [("gate_up_proj", gateUp), ("down_proj", downProj)]
        }
    }

    /// down(silu(gate(x)) ⊙ up(x)), [B, L, H] → [B, L, H].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch projections {
        case .separate(let gate, let up):
            return downProj(gate(x).siluMul(up(x)))
        case .fused(let gateUp):
            let parts = gateUp(x).split([intermediate, intermediate], axis: -1)
            return downProj(parts[0].siluMul(parts[1]))
        }
    }
}

// MARK: - Layer

/// One decoder layer: RMSNorm, self-attention, RMSNorm, MLP, each with a residual connection.
public final class DecoderLayer: Module {
    public let selfAttn: DecoderAttention
    public let mlp: DecoderMLP
    public let inputLayernorm, postAttentionLayernorm: RMSNorm

    init(_ arch: LLMArchitecture, layerIndex: Int) {
        selfAttn = DecoderAttention(arch, layerIndex: layerIndex)
        mlp = DecoderMLP(arch)
        inputLayernorm = RMSNorm(arch.hiddenSize, eps: arch.rmsNormEps)
        postAttentionLayernorm = RMSNorm(arch.hiddenSize, eps: arch.rmsNormEps)
        super.init()
    }

    public override var children: [(String, Module)] {
        [
            ("self_attn", selfAttn), ("mlp", mlp), ("input_layernorm", inputLayernorm),
            ("post_attention_layernorm", postAttentionLayernorm)
        ]
    }

    /// One layer on the residual stream h [B, L, H]: h + attn(norm(h)), then + mlp(norm(·)). `rotary`, `mask` and
    /// `cache` as `DecoderAttention` takes them.
    public func callAsFunction(
        _ h: Tensor, rotary: (cos: Tensor, sin: Tensor), mask: Tensor?, cache: KVCache?
    ) -> Tensor {
        let afterAttention = h + selfAttn(inputLayernorm(h), rotary: rotary, mask: mask, cache: cache)
        return afterAttention + mlp(postAttentionLayernorm(afterAttention))
    }
}
