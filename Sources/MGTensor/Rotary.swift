import Foundation

// Rotary position embeddings in HF LLaMA's layout: the rotation pairs element i with element i + D/2
// (`rotate_half`), and cos/sin are [B, L, D] with the D/2 frequencies repeated twice.

/// Rotary position embeddings as HF's Llama applies them.
public enum Rotary {
    /// HF `LlamaRotaryEmbedding` (default rope type): inv_freq[i] = 1/θ^(2i/D), computed in Float32 as HF does,
    /// angle = position · inv_freq; returns (cos, sin), each [B, L, D], for `positions` [B][L].
    public static func cosSin(positions: [[Int]], headDim: Int, theta: Float, scaling: Float = 1) -> (Tensor, Tensor) {
        precondition(headDim % 2 == 0, "rope: head_dim \(headDim) must be even")
        let half = headDim / 2
        var invFreq = [Float](repeating: 0, count: half)
        for i in 0..<half { invFreq[i] = 1 / Foundation.pow(theta, Float(2 * i) / Float(headDim)) / scaling }
        let b = positions.count, l = positions.first?.count ?? 0
        let cos = Tensor.uninitialized([b, l, headDim]), sin = Tensor.uninitialized([b, l, headDim])
        let cp = cos.storage.floats, sp = sin.storage.floats
        for bi in 0..<b {
            precondition(positions[bi].count == l, "rope: ragged position rows")
            for t in 0..<l {
                let base = (bi * l + t) * headDim
                let p = Float(positions[bi][t])
                for i in 0..<half {
                    let angle = p * invFreq[i]
                    let c = Foundation.cos(angle), s = Foundation.sin(angle)
                    cp[base + i] = c; cp[base + half + i] = c
                    sp[base + i] = s; sp[base + half + i] = s
                }
            }
        }
        return (cos, sin)
    }
}

extension Tensor {
    /// rotate_half: cat(−x[..., D/2:], x[..., :D/2]).
    public func rotateHalf() -> Tensor {
        let d = shape[rank - 1]
        let halves = split([d / 2, d / 2], axis: -1)
        return Tensor.concat([halves[1].neg(), halves[0]], axis: -1)
    }

    /// x·cos + rotate_half(x)·sin for x [B, H, L, D] and cos/sin [B, L, D] (broadcast over heads).
    public func applyingRotary(cos: Tensor, sin: Tensor) -> Tensor {
        let c = cos.unsqueezed(1), s = sin.unsqueezed(1)
        return self * c + rotateHalf() * s
    }
}
