import Foundation
import MGTensor

/// AdamW with the semantics of `torch.optim.AdamW` (single-tensor path, `amsgrad=False`, `maximize=False`).
///
/// Per step, for each trainable parameter p with gradient g (t = that parameter's own step count):
///
///     p ← p·(1 − lr·wd)                                (decoupled weight decay, before the Adam update)
///     m ← m + (1 − β1)·(g − m)                         (torch's lerp)
///     v ← β2·v + (1 − β2)·g²
///     p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
///
/// Scalars are computed in Double and element arithmetic in Float, in torch's order, so results match torch to
/// float rounding. State (step, exp_avg, exp_avg_sq) is created at a parameter's first update and kept by
/// parameter name, so it can be exported and re-imported into a freshly built model for an exact resume.
/// Frozen parameters and parameters without a gradient are skipped (their state, if any, stays as it was).
public final class AdamW {
    /// One parameter under this optimizer.
    public struct Entry {
        public let name: String
        public let parameter: Parameter
        /// Whether weight decay applies to this parameter (false: a "no decay" group, e.g. biases and norms).
        public let decays: Bool
    }

    /// Per-parameter moments, shapes equal to the parameter's.
    struct Moments {
        var step: Int
        let expAvg: Tensor
        let expAvgSq: Tensor
    }

    public let entries: [Entry]
    /// Learning rate of the next `step()`; a trainer sets it from its schedule every iteration.
    public var lr: Double
    public var betas: (Double, Double)
    public var eps: Double
    /// Decoupled weight decay, applied to entries whose `decays` is true.
    public var weightDecay: Double

    private var moments: [String: Moments] = [:]

    /// - Parameters:
    ///   - parameters: named parameters, usually `model.namedParameters()`; names must be unique (they key the
    ///     state). A parameter listed twice under different names is kept once, under its first name.
    ///   - decays: which parameters get weight decay (default: all, as torch with a single group). For the common
    ///     "no decay on biases and norms" split pass e.g. `{ name, p in p.shape.count > 1 }`.
    public init(
        _ parameters: [(String, Parameter)], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
        eps: Double = 1e-8, weightDecay: Double = 1e-2, decays: (String, Parameter) -> Bool = { _, _ in true }
    ) {
        var entries: [Entry] = []
        var names = Set<String>(), seen = Set<ObjectIdentifier>()
        for (name, parameter) in parameters where seen.insert(ObjectIdentifier(parameter)).inserted {
            precondition(names.insert(name).inserted, "AdamW: parameter name \(name) given twice")
            entries.append(Entry(name: name, parameter: parameter, decays: decays(name, parameter)))
        }
        self.entries = entries
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.weightDecay = weightDecay
    }

    /// Number of updates applied so far to the named parameter (0 before its first).
    public func stepCount(of name: String) -> Int { moments[name]?.step ?? 0 }

    /// Drops the gradients of every parameter under this optimizer.
    public func zeroGrad() {
        for entry in entries { entry.parameter.zeroGrad() }
    }

    /// Applies one update to every trainable parameter that has a gradient.
    public func step() {
        for entry in entries where !entry.parameter.frozen {
            guard let grad = entry.parameter.grad else { continue }
            let value = entry.parameter.value
            var state =
                moments[entry.name]
                ?? Moments(step: 0, expAvg: Tensor.zeros(value.shape), expAvgSq: Tensor.zeros(value.shape))
            state.step += 1
            update(value, grad: grad.float(), state: state, weightDecay: entry.decays ? weightDecay : 0)
            moments[entry.name] = state
        }
    }

    private func update(_ value: Tensor, grad: Tensor, state: Moments, weightDecay wd: Double) {
        let n = value.count
        grad.withFloats { g in
            value.unsafeMutableFloats { p in
                state.expAvg.unsafeMutableFloats { m in
                    state.expAvgSq.unsafeMutableFloats { v in
                        guard let g = g.baseAddress, let p = p.baseAddress, let m = m.baseAddress,
                            let v = v.baseAddress
                        else { return }
                        Self.update(
                            count: n, parameter: p, grad: UnsafeMutablePointer(mutating: g), expAvg: m,
                            expAvgSq: v, step: state.step, lr: lr, betas: betas, eps: eps, weightDecay: wd)
                    }
                }
            }
        }
    }

    /// One AdamW update of `count` elements in place (torch's single-tensor `_single_tensor_adamw` arithmetic):
    /// decoupled weight decay, lerp of the first moment, bias corrections for `step` (≥ 1). Shared by this
    /// optimizer and the sharded (ZeRO-1) one, so both produce the same bits.
    public static func update(
        count n: Int, parameter p: UnsafeMutablePointer<Float>, grad g: UnsafeMutablePointer<Float>,
        expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>, step: Int,
        lr: Double, betas: (Double, Double), eps: Double, weightDecay wd: Double
    ) {
        let (beta1, beta2) = betas
        let t = Double(step)
        // Scalars as torch computes them (Python floats), rounded to Float where torch's kernels do.
        let decay = Float(1 - lr * wd)
        let applyDecay = wd != 0
        let lerpWeight = Float(1 - beta1)
        let beta2f = Float(beta2), oneMinusBeta2 = Float(1 - beta2)
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2Sqrt = (1 - pow(beta2, t)).squareRoot()
        let negStepSize = Float(-(lr / biasCorrection1))
        let bc2 = Float(biasCorrection2Sqrt), epsf = Float(eps)
        Parallel.forEachChunk(n, costPerItem: 16) { range in
            for i in range {
                if applyDecay { p[i] *= decay }
                let gi = g[i]
                // torch.lerp: weight < 0.5 → start + w·(end − start); else end − (end − start)·(1 − w).
                m[i] = lerpWeight < 0.5 ? m[i] + lerpWeight * (gi - m[i]) : gi - (gi - m[i]) * (1 - lerpWeight)
                v[i] = v[i] * beta2f + oneMinusBeta2 * gi * gi
                let denom = v[i].squareRoot() / bc2 + epsf
                p[i] += negStepSize * (m[i] / denom)
            }
        }
    }

    /// Drops every moment and step count (the sharded optimizer takes its slices and keeps them itself).
    public func clearState() { moments = [:] }

    // MARK: - State for checkpoints

    /// The optimizer state in checkpoint form: moments as tensors (`exp_avg.<name>`, `exp_avg_sq.<name>`, copies)
    /// and per-parameter step counts. Hyperparameters are not included (they come from the config and schedule).
    public struct State: Sendable {
        public var tensors: [String: Tensor]
        public var steps: [String: Int]

        public init(tensors: [String: Tensor], steps: [String: Int]) {
            self.tensors = tensors
            self.steps = steps
        }
    }

    public static let expAvgPrefix = "exp_avg."
    public static let expAvgSqPrefix = "exp_avg_sq."

    public func exportState() -> State {
        var tensors: [String: Tensor] = [:], steps: [String: Int] = [:]
        for (name, state) in moments {
            tensors[Self.expAvgPrefix + name] = state.expAvg.copy()
            tensors[Self.expAvgSqPrefix + name] = state.expAvgSq.copy()
            steps[name] = state.step
        }
        return State(tensors: tensors, steps: steps)
    }

    /// Replaces the state with `state` (copied into owned float32 storage), after checking every entry: each
    /// step count names a parameter of this optimizer, is positive, and has both moments with the parameter's
    /// shape; no tensor is left over. Throws `OptimizerStateError` listing every problem; nothing changes then.
    public func importState(_ state: State, source: String? = nil) throws {
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.parameter) })
        var problems: [String] = []
        var restored: [String: Moments] = [:]
        var used = Set<String>()
        for (name, step) in state.steps.sorted(by: { $0.key < $1.key }) {
            guard let parameter = byName[name] else {
                problems.append("state for unknown parameter \(name)")
                continue
            }
            if step <= 0 { problems.append("\(name): step count \(step), expected ≥ 1") }
            var pair: [Tensor] = []
            for key in [Self.expAvgPrefix + name, Self.expAvgSqPrefix + name] {
                used.insert(key)
                guard let tensor = state.tensors[key] else {
                    problems.append("missing tensor \(key)")
                    continue
                }
                guard tensor.dtype.isFloatingPoint else {
                    problems.append("\(key): dtype \(tensor.dtype.rawValue), expected a float type")
                    continue
                }
                guard tensor.shape == parameter.shape else {
                    problems.append("\(key): expected shape \(parameter.shape), found \(tensor.shape)")
                    continue
                }
                pair.append(tensor.dtype == .float32 ? tensor.copy() : tensor.converted(to: .float32))
            }
            if pair.count == 2 && step > 0 { restored[name] = Moments(step: step, expAvg: pair[0], expAvgSq: pair[1]) }
        }
        for key in state.tensors.keys.sorted() where !used.contains(key) {
            problems.append("unexpected tensor \(key)")
        }
        guard problems.isEmpty else { throw OptimizerStateError(source: source, problems: problems) }
        moments = restored
    }
}

/// Why an optimizer state could not be imported: every problem found, one per line.
public struct OptimizerStateError: Error, Equatable, Sendable, CustomStringConvertible {
    public var source: String?
    public var problems: [String]

    public var description: String {
        (["cannot restore optimizer state\(source.map { " from \($0)" } ?? ""): \(problems.count) problem(s)"]
            + problems.map { "  \($0)" }).joined(separator: "\n")
    }
}
