import Foundation

// Cross-entropy over class logits with PyTorch's ignore_index (−100) and mean reduction over the non-ignored.

public let ignoreIndex = -100

extension Tensor {
    /// `F.cross_entropy(logits, targets, ignore_index=-100)` for logits [N, C] and N targets.
    /// Mean over targets ≠ ignoreIndex; with every target ignored the result is NaN (0/0), as in PyTorch.
    public func crossEntropy(targets: [Int], ignoreIndex ignored: Int = ignoreIndex) -> Tensor {
        precondition(rank == 2, "cross_entropy: logits must be [N, C], got \(shape)")
        let n = shape[0], c = shape[1]
        precondition(targets.count == n, "cross_entropy: \(targets.count) targets for \(n) rows")
        for t in targets where t != ignored {
            precondition(t >= 0 && t < c, "cross_entropy: target \(t) outside 0..<\(c)")
        }
        let logp = detached().logSoftmax(axis: 1)
        let lp = logp.storage.floats
        var total: Double = 0
        var valid = 0
        for i in 0..<n where targets[i] != ignored {
            total -= Double(lp[i * c + targets[i]])
            valid += 1
        }
        let loss = Tensor(scalar: Float(total / Double(valid)))
        return Tensor.record("cross_entropy", loss, inputs: [self]) { g in
            let gx = Tensor.uninitialized([n, c])
            crossEntropyBackward(
                logProbabilities: logp.storage.floats, targets: targets, ignoreIndex: ignored,
                scale: g.item() / Float(valid), rows: n, classes: c, gradInput: gx.storage.floats)
            return [gx]
        }
    }
}

/// Cross-entropy's gradient with respect to the logits: (softmax − onehot) · `scale` on rows whose target is not
/// ignored (`scale` = upstream gradient / number of such rows), 0 on ignored rows. Rows in parallel.
func crossEntropyBackward(
    logProbabilities lp: UnsafePointer<Float>, targets: [Int], ignoreIndex ignored: Int,
    scale: Float, rows n: Int, classes c: Int, gradInput dst: UnsafeMutablePointer<Float>
) {
    Parallel.forEachChunk(n, costPerItem: c * 4) { r in
        for i in r {
            let row = dst + i * c
            if targets[i] == ignored { for j in 0..<c { row[j] = 0 }; continue }
            for j in 0..<c { row[j] = Foundation.exp(lp[i * c + j]) * scale }
            row[targets[i]] -= scale
        }
    }
}
