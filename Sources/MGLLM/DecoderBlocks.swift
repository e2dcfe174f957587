import Foundation
import MGNN

// The blocks of a LLaMA / Phi-3 decoder layer. Keys follow the HF checkpoints: LLaMA has separate
// q/k/v/o and gate/up/down projections; Phi-3 fuses q, k, v into `qkv_proj` (rows [q; k; v]) and gate, up into
// `gate_up_proj` (rows [gate; up]).

/// Zero-initialised linear of the given shape (weights come from a checkpoint; memory is mapped lazily).
func placeholderLinear(_ out: Int, _ inFeatures: Int, bias: Bool) -> Linear {
    Linear(weight: Tensor.zeros([out, inFeatures]), bias: bias ? Tensor.zeros([out]) : nil)
}

// MARK: - Attention

/// A decoder layer's self-attention projections (Llama or Phi-3 layout) with HF's key names.
public final class DecoderAttention: Module {
    /// LLaMA: separate q/k/v projections; Phi-3: one fused `qkv_proj`.
    public enum Projections {
        case separate(q: Linear, k: Linear, v: Linear)
        case fused(qkv: Linear)
    }

    let arch: LLMArchitecture
    public let projections: Projections
    public let oProj: Linear

    init(_ arch: LLMArchitecture) {
        self.arch = arch
        let q = arch.numHeads * arch.headDim, kv = arch.numKeyValueHeads * arch.headDim
        switch arch.layout {
        case .llama:
            projections = .separate(q: placeholderLinear(q, arch.hiddenSize, bias: arch.attentionBias),
                                    k: placeholderLinear(kv, arch.hiddenSize, bias: arch.attentionBias),
                                    v: placeholderLinear(kv, arch.hiddenSize, bias: arch.attentionBias))
        case .phi3:
            projections = .fused(qkv: placeholderLinear(q + 2 * kv, arch.hiddenSize, bias: arch.attentionBias))
        }
        oProj = placeholderLinear(arch.hiddenSize, q, bias: arch.attentionBias)
        super.init()
    }

    public override var children: [(String, Module)] {
        switch projections {
        case .separate(let q, let k, let v): return [("q_proj", q), ("k_proj", k), ("v_proj", v), ("o_proj", oProj)]
        case .fused(let qkv): return [("qkv_proj", qkv), ("o_proj", oProj)]
        }
    }

    /// Projects [B, L, H] to q [B, heads, L, hd], k and v [B, kvHeads, L, hd].
    func project(_ x: Tensor) -> (Tensor, Tensor, Tensor) {
        let b = x.shape[0], l = x.shape[1], hd = arch.headDim
        let q: Tensor, k: Tensor, v: Tensor
        switch projections {
        case .separate(let qp, let kp, let vp):
            (q, k, v) = (qp(x), kp(x), vp(x))
        case .fused(let qkv):
            let parts = qkv(x).split([arch.numHeads * hd, arch.numKeyValueHeads * hd, arch.numKeyValueHeads * hd], axis: 2)
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
            projections = .separate(gate: placeholderLinear(arch.intermediateSize, arch.hiddenSize, bias: arch.mlpBias),
                                    up: placeholderLinear(arch.intermediateSize, arch.hiddenSize, bias: arch.mlpBias))
        case .phi3:
            projections = .fused(gateUp: placeholderLinear(2 * arch.intermediateSize, arch.hiddenSize, bias: arch.mlpBias))
        }
        downProj = placeholderLinear(arch.hiddenSize, arch.intermediateSize, bias: arch.mlpBias)
        super.init()
    }

    public override var children: [(String, Module)] {
        switch projections {
        case .separate(let gate, let up): return [("gate_proj", gate), ("up_proj", up), ("down_proj", downProj)]
        case .fused(let gateUp): return [("gate_up_proj", gateUp), ("down_proj", downProj)]
        }
    }

    /// down(silu(gate(x)) ⊙ up(x))
    func callAsFunction(_ x: Tensor) -> Tensor {
        switch projections {
        case .separate(let gate, let up):
            return downProj(gate(x).silu() * up(x))
        case .fused(let gateUp):
            let parts = gateUp(x).split([intermediate, intermediate], axis: -1)
            return downProj(parts[0].silu() * parts[1])
        }
    }
}

// MARK: - Layer

/// One decoder layer: RMSNorm, self-attention, RMSNorm, MLP, each with a residual connection.
public final class DecoderLayer: Module {
    public let selfAttn: DecoderAttention
    public let mlp: DecoderMLP
    public let inputLayernorm, postAttentionLayernorm: RMSNorm

    init(_ arch: LLMArchitecture) {
        selfAttn = DecoderAttention(arch)
        mlp = DecoderMLP(arch)
        inputLayernorm = RMSNorm(arch.hiddenSize, eps: arch.rmsNormEps)
        postAttentionLayernorm = RMSNorm(arch.hiddenSize, eps: arch.rmsNormEps)
        super.init()
    }

    public override var children: [(String, Module)] {
        [("self_attn", selfAttn), ("mlp", mlp), ("input_layernorm", inputLayernorm),
         ("post_attention_layernorm", postAttentionLayernorm)]
    }
}
