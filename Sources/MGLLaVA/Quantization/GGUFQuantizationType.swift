import MGCheckpoint
import MGLLM

/// What `mgllava quantize --type` writes, and how each tensor's type is chosen: llama-quantize's rules for its
/// file types (`llama_tensor_get_type`), including the fallbacks for rows that are not whole blocks.
public enum GGUFQuantizationType: String, CaseIterable, Sendable {
    /// Every weight matrix Q8_0 (8.5 bits per weight).
    case q8_0
    /// llama.cpp's Q4_K_M mixture: Q4_K, with Q6_K for the output matrix and for attn_v and ffn_down in the layers
    /// `useMoreBits` picks (~4.9 bits per weight on LLaMA-7B).
    case q4_K_M = "q4_k_m"
    /// Every weight matrix Q4_K, the output matrix and embeddings included (llama-quantize `--pure Q4_K_M`).
    case q4_K = "q4_k"
    /// Every weight matrix F16.
    case f16

    /// `general.file_type` (llama.cpp's `llama_ftype`).
    public var fileType: UInt32 {
        switch self {
        case .q8_0: return 7
        case .q4_K_M, .q4_K: return 15
        case .f16: return 1
        }
    }

    /// llama-quantize's `use_more_bits`: the first and last eighth of the layers, and every third one between.
    public static func useMoreBits(layer: Int, layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// The type of GGUF tensor `name` with PyTorch-order `shape`, and whether a fallback was needed because its
    /// rows are not whole blocks of the preferred type (Q4_K → Q5_0, Q6_K → Q8_0, then F16). One-dimensional
    /// tensors (norms, biases) stay F32. `layers` is the model's layer count.
    public func type(
        forGGUF name: String, shape: [Int], layers: Int, tiedEmbeddings: Bool
    ) throws -> (type: GGMLType, fallback: Bool) {
        let (f32, f16, q5_0, q8_0, q4_K, q5_K, q6_K) = (
            GGMLType.f32, GGMLType.f16, GGMLType.q5_0, GGMLType.q8_0, GGMLType.q4_K, GGMLType.q5_K, GGMLType.q6_K
        )
        guard shape.count >= 2, name.hasSuffix(".weight"), !name.contains("_norm.weight") else { return (f32, false) }
        if self == .f16 { return (f16, false) }
        let columns = shape[shape.count - 1]
        let isOutput = name == "output.weight" || (tiedEmbeddings && name == "token_embd.weight")
        let layer = name.hasPrefix("blk.") ? Int(name.split(separator: ".")[1]) : nil
        var chosen = self == .q8_0 ? q8_0 : q4_K
        if self == .q4_K_M {
            if isOutput {
                chosen = columns % 256 != 0 ? q8_0 : q6_K
            } else if let layer, name.hasSuffix(".attn_v.weight") || name.hasSuffix(".ffn_down.weight") {
                if GGUFQuantizationType.useMoreBits(layer: layer, layers: layers) { chosen = q6_K }
            } else if name.hasSuffix(".attn_qkv.weight") {
                chosen = q5_K
            }
        } else if self == .q8_0 && isOutput {
            chosen = q8_0
        }
        if chosen == q5_K {
            throw GGUFError.invalidWrite(
                path: name,
                reason: "Q4_K_M stores fused attn_qkv (Phi-3) as Q5_K, which mgllava does not write yet; "
                    + "use --type q4_k or q8_0")
        }
        guard columns % chosen.blockSize != 0 else { return (chosen, false) }
        let fallback = [q4_K.id: q5_0, q6_K.id: q8_0][chosen.id] ?? chosen
        return (columns % fallback.blockSize == 0 ? fallback : f16, true)
    }
}
