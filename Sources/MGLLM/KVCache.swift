import Foundation
import MGTensor

/// Keys and values of every layer for incremental decoding, preallocated with spare capacity so that a decoding
/// step writes only its new positions (no re-copy of the whole cache per token). Layout per layer:
/// [B, kvHeads, capacity, headDim]; positions 0..<length are valid.
public final class KVCache {
    public private(set) var length = 0
    public private(set) var capacity: Int
    let batch: Int, kvHeads: Int, headDim: Int
    var keys: [Tensor]
    var values: [Tensor]

    public init(architecture a: LLMArchitecture, batch: Int, capacity: Int = 256) {
        self.batch = batch
        self.kvHeads = a.numKeyValueHeads
        self.headDim = a.headDim
        self.capacity = max(capacity, 1)
        keys = (0..<a.numLayers).map { _ in Tensor.zeros([batch, a.numKeyValueHeads, max(capacity, 1), a.headDim]) }
        values = keys.map { _ in Tensor.zeros([batch, a.numKeyValueHeads, max(capacity, 1), a.headDim]) }
    }

    /// Makes room for `extra` more positions, doubling the capacity when needed.
    func reserve(_ extra: Int) {
        let needed = length + extra
        if needed <= capacity { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        keys = keys.map { grow($0, to: newCapacity) }
        values = values.map { grow($0, to: newCapacity) }
        capacity = newCapacity
    }

    private func grow(_ t: Tensor, to newCapacity: Int) -> Tensor {
        let out = Tensor.zeros([batch, kvHeads, newCapacity, headDim])
        let src = t.storage.floats, dst = out.storage.floats
        for bh in 0..<(batch * kvHeads) {
            (dst + bh * newCapacity * headDim).update(from: src + bh * capacity * headDim, count: length * headDim)
        }
        return out
    }

    /// Writes k, v [B, kvHeads, L, hd] of `layer` at positions length..<length+L (call `advance` after all layers).
    func write(layer: Int, key k: Tensor, value v: Tensor) {
        let l = k.shape[2]
        for (cache, new) in [(keys[layer], k.float()), (values[layer], v.float())] {
            let dst = cache.storage.floats, src = new.storage.floats
            for bh in 0..<(batch * kvHeads) {
                (dst + (bh * capacity + length) * headDim).update(from: src + bh * l * headDim, count: l * headDim)
            }
        }
    }

    func advance(_ l: Int) { length += l }

    /// Drops everything (keeps the memory).
    public func reset() { length = 0 }
}
