// MGTrain — ZeRO stage 1 (`zero_stage = 1`, docs/distributed.md): AdamW whose moments are split across ranks.
import Foundation
import MGDistributed

/// AdamW with its optimizer state sharded over the ranks (ZeRO stage 1). The trainable parameters, in the
/// optimizer's order, form one flat index space padded to a multiple of the world size; rank r owns the r-th
/// equal slice of it and keeps the two moments for that slice only (2 × 4 bytes per parameter ÷ ranks). A step:
/// reduce-scatter the gradients (each rank receives the summed gradient of its slice), the global gradient norm
/// from per-slice sums of squares, clipping, the AdamW update of the slice (the same arithmetic as `AdamW`,
/// `AdamW.update`), and an all-gather of the updated slices so every rank again holds all the weights.
final class ShardedAdamW {
    let optimizer: AdamW
    let communicator: any Communicator
    /// Start of each entry in the flat index space.
    let offsets: [Int]
    let total: Int
    let shardSize: Int
    var shardStart: Int { communicator.rank * shardSize }
    /// Moments of this rank's slice.
    var expAvg: [Float]
    var expAvgSq: [Float]
    /// AdamW's per-parameter step counts; every rank keeps all of them (cheap, and any rank can then tell which
    /// entries a slice update applies to).
    var steps: [Int]

    /// Bytes of each staging buffer (`reduce_bucket_size`).
    let bucketBytes: Int

    init(optimizer: AdamW, communicator: any Communicator, bucketBytes: Int) {
        self.optimizer = optimizer
        self.bucketBytes = bucketBytes
        self.communicator = communicator
        var offsets: [Int] = [], position = 0
        for entry in optimizer.entries {
            offsets.append(position)
            position += entry.parameter.count
        }
        self.offsets = offsets
        total = position
        let size = communicator.size
        shardSize = (position + size - 1) / size
        expAvg = [Float](repeating: 0, count: shardSize)
        expAvgSq = [Float](repeating: 0, count: shardSize)
        steps = [Int](repeating: 0, count: optimizer.entries.count)
    }

    /// The part of entry `e` inside this rank's slice, as (offset in the parameter, offset in the slice, count).
    func overlap(_ e: Int) -> (Int, Int, Int)? {
        let lo = max(offsets[e], shardStart),
            hi = min(offsets[e] + optimizer.entries[e].parameter.count, shardStart + shardSize)
        guard lo < hi else { return nil }
        return (lo - offsets[e], lo - shardStart, hi - lo)
    }

    /// Calls `body(entry, offset in the parameter, offset in the range, count)` for every entry overlapping the
    /// flat range `start ..< start + count`.
    func forEachOverlap(_ start: Int, _ count: Int, _ body: (Int, Int, Int, Int) -> Void) {
        for e in offsets.indices {
            let lo = max(offsets[e], start), hi = min(offsets[e] + optimizer.entries[e].parameter.count, start + count)
            if lo < hi { body(e, lo - offsets[e], lo - start, hi - lo) }
        }
    }

    /// Flat elements per collective call on each rank: the staging buffers stay at about one gradient bucket
    /// (`reduce_bucket_size`) however large the model, so sharding saves memory instead of moving it.
    var pieceSize: Int { max(1, min(shardSize, bucketBytes / 4 / communicator.size)) }

    /// One optimizer step from the gradients this rank accumulated (unscaled by the world size: the sum over ranks
    /// is the batch gradient). Returns the global gradient norm before clipping; when it is not finite nothing is
    /// updated, as in the replicated path.
    func step(lr: Double, maxNorm: Float, used: [Bool]) throws -> Float {
        let size = communicator.size, piece = pieceSize
        let grads = optimizer.entries.enumerated().map { used[$0.offset] ? $0.element.parameter.grad : nil }
        // Reduce-scatter piece by piece: the staging buffer holds, for each rank k, the same piece of k's slice.
        var slice = [Float](repeating: 0, count: shardSize)
        var staging = [Float](repeating: 0, count: piece * size)
        for start in stride(from: 0, to: shardSize, by: piece) {
            let n = min(piece, shardSize - start)
            staging.withUnsafeMutableBufferPointer { st in
                guard let st = st.baseAddress else { return }
                st.update(repeating: 0, count: n * size)
                for k in 0..<size {
                    forEachOverlap(k * shardSize + start, n) { e, inParameter, inRange, count in
                        grads[e]?.withFloats { g in
                            if let g = g.baseAddress {
                                (st + k * n + inRange).update(from: g + inParameter, count: count)
                            }
                        }
                    }
                }
            }
            try staging.withUnsafeBufferPointer { input in
                try slice.withUnsafeMutableBufferPointer { output in
                    try communicator.reduceScatterSum(
                        UnsafeBufferPointer(rebasing: input[0..<(n * size)]),
                        into: UnsafeMutableBufferPointer(rebasing: output[start..<(start + n)]))
                }
            }
        }
        // clip_grad_norm_ over the whole gradient: per-slice sums of squares, summed over ranks.
        var sumOfSquares = [slice.reduce(0.0) { $0 + Double($1) * Double($1) }]
        try communicator.allReduceSum(&sumOfSquares)
        let norm = Float(sumOfSquares[0].squareRoot())
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 || coefficient.isNaN {
            for i in slice.indices { slice[i] *= coefficient }
        }
        guard norm.isFinite else { return norm }

        // This slice's parameter values (packed), updated in place.
        var values = [Float](repeating: 0, count: shardSize)
        values.withUnsafeMutableBufferPointer { v in
            guard let v = v.baseAddress else { return }
            forEachOverlap(shardStart, shardSize) { e, inParameter, inSlice, count in
                optimizer.entries[e].parameter.value.withFloats { p in
                    if let p = p.baseAddress { (v + inSlice).update(from: p + inParameter, count: count) }
                }
            }
        }
        for (e, entry) in optimizer.entries.enumerated() where used[e] {
            steps[e] += 1
            guard let (_, inSlice, count) = overlap(e) else { continue }
            values.withUnsafeMutableBufferPointer { p in
                slice.withUnsafeMutableBufferPointer { g in
                    expAvg.withUnsafeMutableBufferPointer { m in
                        expAvgSq.withUnsafeMutableBufferPointer { v in
                            guard let p = p.baseAddress, let g = g.baseAddress, let m = m.baseAddress,
                                let v = v.baseAddress
                            else { return }
                            AdamW.update(
                                count: count, parameter: p + inSlice, grad: g + inSlice, expAvg: m + inSlice,
                                expAvgSq: v + inSlice, step: steps[e], lr: lr, betas: optimizer.betas,
                                eps: optimizer.eps, weightDecay: entry.decays ? optimizer.weightDecay : 0)
                        }
                    }
                }
            }
        }
        // All-gather piece by piece straight into the parameters, so every rank again holds all the weights.
        for start in stride(from: 0, to: shardSize, by: piece) {
            let n = min(piece, shardSize - start)
            try values.withUnsafeBufferPointer { input in
                try staging.withUnsafeMutableBufferPointer { output in
                    try communicator.allGather(
                        UnsafeBufferPointer(rebasing: input[start..<(start + n)]),
                        into: UnsafeMutableBufferPointer(rebasing: output[0..<(n * size)]))
                }
            }
            staging.withUnsafeBufferPointer { st in
                guard let st = st.baseAddress else { return }
                for k in 0..<size {
                    forEachOverlap(k * shardSize + start, n) { e, inParameter, inRange, count in
                        guard used[e] else { return }
                        optimizer.entries[e].parameter.value.unsafeMutableFloats { p in
                            p.baseAddress.map { ($0 + inParameter).update(from: st + k * n + inRange, count: count) }
                        }
                    }
                }
            }
        }
        return norm
    }

    /// Every rank's slice of `values`, concatenated: the full flat vector on every rank.
    func gather(_ values: [Float]) throws -> [Float] {
        var out = [Float](repeating: 0, count: shardSize * communicator.size)
        try values.withUnsafeBufferPointer { v in
            try out.withUnsafeMutableBufferPointer { try communicator.allGather(v, into: $0) }
        }
        return out
    }

    /// The full optimizer state in `AdamW.State` form (the same checkpoint file as replicated training, so a run
    /// resumes with any number of ranks, sharded or not). Collective: every rank must call it.
    func exportState() throws -> AdamW.State {
        let m = try gather(expAvg), v = try gather(expAvgSq)
        var tensors: [String: Tensor] = [:], counts: [String: Int] = [:]
        for (e, entry) in optimizer.entries.enumerated() where steps[e] > 0 {
            let range = offsets[e]..<(offsets[e] + entry.parameter.count)
            tensors[AdamW.expAvgPrefix + entry.name] = Tensor(Array(m[range]), shape: entry.parameter.shape)
            tensors[AdamW.expAvgSqPrefix + entry.name] = Tensor(Array(v[range]), shape: entry.parameter.shape)
            counts[entry.name] = steps[e]
        }
        return AdamW.State(tensors: tensors, steps: counts)
    }

    /// Takes this rank's slice of a full state (validated by `AdamW.importState` first, which reports every
    /// problem with the file), then drops the full copy.
    func importState(_ state: AdamW.State, source: String) throws {
        try optimizer.importState(state, source: source)
        optimizer.clearState()
        expAvg = [Float](repeating: 0, count: shardSize)
        expAvgSq = [Float](repeating: 0, count: shardSize)
        for (e, entry) in optimizer.entries.enumerated() {
            steps[e] = state.steps[entry.name] ?? 0
            guard steps[e] > 0, let (inParameter, inSlice, count) = overlap(e),
                let m = state.tensors[AdamW.expAvgPrefix + entry.name]?.float(),
                let v = state.tensors[AdamW.expAvgSqPrefix + entry.name]?.float()
            else { continue }
            m.withFloats { mp in
                v.withFloats { vp in
                    for i in 0..<count {
                        expAvg[inSlice + i] = mp[inParameter + i]
                        expAvgSq[inSlice + i] = vp[inParameter + i]
                    }
                }
            }
        }
    }
}
