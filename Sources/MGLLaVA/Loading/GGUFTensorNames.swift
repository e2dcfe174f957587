import MGLLM

/// llama.cpp's tensor names for the LLM families mgllava runs, against the HF checkpoint keys (as llama.cpp's
/// converter maps them): `model.layers.N.self_attn.q_proj.weight` ⇄ `blk.N.attn_q.weight`, and so on.
public enum GGUFTensorNames {
    /// Per-layer HF module paths and their GGUF names, per family.
    public static func layerNames(_ family: LLMConfiguration.Family) -> [(hf: String, gguf: String)] {
        let shared = [
            ("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"),
            ("self_attn.o_proj", "attn_output"), ("mlp.down_proj", "ffn_down")
        ]
        switch family {
        case .llama:
            return shared + [
                ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up")
            ]
        case .phi3:
            return shared + [("self_attn.qkv_proj", "attn_qkv"), ("mlp.gate_up_proj", "ffn_up")]
        }
    }

    static let globalNames = [
        ("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")
    ]

    /// The GGUF name of an HF key, nil for a key llama.cpp has no name for.
    public static func gguf(forHF key: String, family: LLMConfiguration.Family) -> String? {
        let (stem, suffix) = split(key)
        guard let suffix else { return nil }
        if let g = globalNames.first(where: { $0.0 == stem }) { return "\(g.1).\(suffix)" }
        let parts = stem.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]), layer >= 0,
            let name = layerNames(family).first(where: { $0.hf == parts[3] })
        else { return nil }
        return "blk.\(layer).\(name.gguf).\(suffix)"
    }

    /// The HF key of a GGUF tensor name, nil for a name with no HF counterpart here.
    public static func hf(forGGUF name: String, family: LLMConfiguration.Family) -> String? {
        let (stem, suffix) = split(name)
        guard let suffix else { return nil }
        if let g = globalNames.first(where: { $0.1 == stem }) { return "\(g.0).\(suffix)" }
        let parts = stem.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
            let module = layerNames(family).first(where: { $0.gguf == parts[2] })
        else { return nil }
        return "model.layers.\(layer).\(module.hf).\(suffix)"
    }

    /// "a.b.weight" → ("a.b", "weight"); only `weight` and `bias` are tensor suffixes.
    private static func split(_ key: String) -> (String, String?) {
        for suffix in ["weight", "bias"] where key.hasSuffix("." + suffix) {
            return (String(key.dropLast(suffix.count + 1)), suffix)
        }
        return (key, nil)
    }

    /// llama.cpp's converter reorders the rows of LLaMA's q/k projections (weights and biases) so that its RoPE
    /// rotates adjacent pairs: within each head of `headDim` rows, HF row s·headDim/2 + i becomes row 2i + s. Returns
    /// the HF row that GGUF row `row` holds (`toGGUF` false), or the GGUF row of HF row `row` (`toGGUF` true).
    static func ropeRow(_ row: Int, headDim: Int, toGGUF: Bool) -> Int {
        let head = row / headDim, r = row % headDim, half = headDim / 2
        if toGGUF { return head * headDim + (r % half) * 2 + r / half }
        return head * headDim + (r % 2) * half + r / 2
    }

    /// Whether an HF key is one of the row-permuted projections, and its head size (q: n_head heads, k: n_kv).
    static func isRopePermuted(_ hfKey: String, family: LLMConfiguration.Family) -> Bool {
        family == .llama
            && (hfKey.hasSuffix("self_attn.q_proj.weight") || hfKey.hasSuffix("self_attn.q_proj.bias")
                || hfKey.hasSuffix("self_attn.k_proj.weight") || hfKey.hasSuffix("self_attn.k_proj.bias"))
    }
}
