// MGTrain — data parallelism across ranks (docs/distributed.md): the gradient all-reduce of replicated training.
import Foundation
import MGDistributed

/// DDP's default bucket size (`bucket_cap_mb=25`): large enough to amortise per-call latency, small enough that the
/// staging copy stays cheap.
let defaultGradientBucketBytes = 25 << 20

extension Trainer {
    /// Bytes per collective call: `reduce_bucket_size` floats, or DDP's 25 MB.
    var gradientBucketBytes: Int { config.reduceBucketSize.map { max(1, $0) * 4 } ?? defaultGradientBucketBytes }

    /// Which trainable parameters got a gradient on any rank in this step. A parameter no rank used (the box
    /// projector in a text-only step) keeps no gradient, so AdamW skips it exactly as a single process would.
    func usedOnAnyRank() throws -> [Bool] {
        var used = optimizer.entries.map { $0.parameter.grad == nil ? 0.0 : 1.0 }
        try communicator.allReduceMax(&used)
        return used.map { $0 > 0 }
    }

    /// Sums every used parameter's gradient over the ranks (bucketed all-reduce, in place). Each rank already
    /// scaled its loss by 1 / (micro-batches in the window over all ranks), so the sum is the mean gradient of
    /// the global batch — the gradient one process with `ranks ×` the accumulation computes.
    func allReduceGradients() throws {
        let used = try usedOnAnyRank()
        var buffers: [UnsafeMutableBufferPointer<Float>] = []
        var keep: [Tensor] = []
        for (entry, isUsed) in zip(optimizer.entries, used) where isUsed {
            let parameter = entry.parameter
            // A rank that did not touch this parameter contributes zeros.
            let grad = parameter.grad ?? Tensor.zeros(parameter.shape)
            if parameter.grad == nil { parameter.grad = grad }
            guard let stored = parameter.grad else { continue }
            keep.append(stored)
            buffers.append(UnsafeMutableBufferPointer(start: stored.storage.floats, count: stored.count))
        }
        try communicator.allReduceSum(buffers: buffers, bucketBytes: gradientBucketBytes)
        withExtendedLifetime(keep) {}
    }

    /// Fails when the ranks do not hold the same trainable weights (another `pretrained_pth`, another seed):
    /// replicated training would silently diverge. Compares a checksum's minimum and maximum over the ranks.
    func checkReplicasAgree() throws {
        // Per tensor: the sum of its values and of their squares, the squares weighted by the tensor's position,
        // so that swapped or shifted tensors change the checksum too.
        var sum = 0.0, weighted = 0.0
        for (index, entry) in optimizer.entries.enumerated() {
            var s = 0.0, squares = 0.0
            entry.parameter.value.withFloats { values in
                for x in values {
                    s += Double(x)
                    squares += Double(x) * Double(x)
                }
            }
            sum += s
            weighted += Double(index + 1) * squares
        }
        var extremes = [sum, weighted, -sum, -weighted]
        try communicator.allReduceMax(&extremes)
        guard extremes[0] == -extremes[2], extremes[1] == -extremes[3] else {
            throw TrainerError.invalidConfiguration(
                "the \(communicator.size) ranks start from different trainable "
                    + "weights (check that every rank reads the same pretrained_pth, models and seed)")
        }
    }
}
