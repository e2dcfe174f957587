import Foundation

/// The training schedule of the XTuner configs: mmengine `LinearLR(start_factor, begin=0, end=W)` followed by
/// `CosineAnnealingLR(eta_min, begin=W, end=N)`, both stepped after every iteration.
///
/// mmengine applies these in their recursive ("chainable") form — each step multiplies or shifts the optimizer's
/// current lr — and this type reproduces that recursion in Double, operation for operation, rather than the
/// closed form. The two agree for W ≥ 2, but not for W = 1: LinearLR then has `total_iters = 0` and never
/// raises the lr from `base·start_factor`, and the cosine, applied multiplicatively to that lr, keeps the whole
/// run near `base·start_factor` (1e-8 for base 1e-3). Matching mmengine matters more than the intended shape.
///
/// `lr(at:)` is a pure function of the iteration, so resuming at any iteration needs no scheduler state.
/// Iterations at or past N keep the last value (mmengine stops updating after `end`).
public struct WarmupCosineSchedule: Sendable, Equatable {
    public let baseLR: Double
    /// Total iterations N (the cosine's `end`).
    public let iterations: Int
    /// Warmup length W (LinearLR's `end`, the cosine's `begin`).
    public let warmupIterations: Int
    public let startFactor: Double
    public let etaMin: Double

    /// The lr used in each iteration 0..<N.
    public let values: [Double]

    /// `warmupIterations` as mmengine's `build_iter_from_epoch` computes it for a one-epoch run,
    /// W = int(warmupRatio·N) (truncated). For E epochs of L iterations mmengine computes int((ratio·E)·L), which
    /// can round differently: compute that W and use `init(baseLR:iterations:warmupIterations:…)`.
    /// W = 0 (mmengine would refuse `end == begin`) means no warmup: the cosine starts at iteration 0.
    public init(
        baseLR: Double, iterations: Int, warmupRatio: Double, startFactor: Double = 1e-5,
        etaMin: Double = 0
    ) {
        self.init(
            baseLR: baseLR, iterations: iterations,
            warmupIterations: Int(warmupRatio * Double(iterations)),
            startFactor: startFactor, etaMin: etaMin)
    }

    public init(
        baseLR: Double, iterations: Int, warmupIterations: Int, startFactor: Double = 1e-5,
        etaMin: Double = 0
    ) {
        precondition(iterations >= 0, "WarmupCosineSchedule: negative iteration count \(iterations)")
        precondition(
            warmupIterations >= 0 && warmupIterations <= iterations,
            "WarmupCosineSchedule: warmup \(warmupIterations) outside 0…\(iterations)")
        self.baseLR = baseLR
        self.iterations = iterations
        self.warmupIterations = warmupIterations
        self.startFactor = startFactor
        self.etaMin = etaMin
        self.values = Self.simulate(
            baseLR: baseLR, iterations: iterations, warmup: warmupIterations,
            startFactor: startFactor, etaMin: etaMin)
    }

    /// The lr to use in `iteration` (0-based). Past the end, the last value; before 0, the first.
    public func lr(at iteration: Int) -> Double {
        guard let last = values.last else { return baseLR }
        if iteration >= values.count { return last }
        return values[Swift.max(iteration, 0)]
    }

    // MARK: - mmengine's recursion

    /// Runs mmengine's schedulers: both are constructed (each construction performs one `step()`, the "step 0"
    /// that applies `start_factor`), then the lr is read before each iteration and both step after it.
    private static func simulate(
        baseLR: Double, iterations n: Int, warmup w: Int, startFactor: Double,
        etaMin: Double
    ) -> [Double] {
        var lr = baseLR
        // Each scheduler counts its own global step; it acts only while begin ≤ global step < end, and its
        // `last_step` counts the steps it acted on (0 on the first).
        var linear = w > 0 ? Phase(begin: 0, end: w) : nil
        var cosine = Phase(begin: w, end: n)
        let totalIters = w - 1  // LinearLR: end − begin − 1
        let tMax = n - w  // CosineAnnealingLR: T_max = end − begin
        let endFactor = 1.0

        func stepLinear() {
            guard let k = linear?.advance() else { return }
            if k == 0 {
                lr = lr * startFactor
            } else {
                lr =
                    lr
                    * (1.0 + (endFactor - startFactor)
                        / (Double(totalIters) * startFactor + Double(k - 1) * (endFactor - startFactor)))
            }
        }
        func stepCosine() {
            guard let k = cosine.advance() else { return }
            if k == 0 { return }
            let period = 2 * tMax
            if pythonModulo(k - 1 - tMax, period) == 0 {
                lr = lr + (baseLR - etaMin) * (1 - cos(Double.pi / Double(tMax))) / 2
            } else {
                lr =
                    (1 + cos(Double.pi * Double(k) / Double(tMax)))
                    / (1 + cos(Double.pi * Double(k - 1) / Double(tMax))) * (lr - etaMin) + etaMin
            }
        }

        // Construction, in config order.
        stepLinear()
        stepCosine()
        var values: [Double] = []
        values.reserveCapacity(n)
        for _ in 0..<n {
            values.append(lr)
            stepLinear()
            stepCosine()
        }
        return values
    }

    /// The step counters of one mmengine scheduler.
    private struct Phase {
        let begin: Int, end: Int
        var globalStep = -1
        var lastStep = -1

        /// One `step()`: returns the scheduler's `last_step` when it acts at this global step, nil otherwise.
        mutating func advance() -> Int? {
            globalStep += 1
            guard begin <= globalStep && globalStep < end else { return nil }
            lastStep += 1
            return lastStep
        }
    }

    /// Python's `%` (result has the divisor's sign), which mmengine's restart test relies on.
    private static func pythonModulo(_ a: Int, _ b: Int) -> Int {
        guard b != 0 else { return a }
        let r = a % b
        return r != 0 && (r < 0) != (b < 0) ? r + b : r
    }
}

/// The lr of every iteration 0..<iterations for the warmup + cosine schedule (see `WarmupCosineSchedule`).
public func lrSchedule(
    baseLR: Double, iterations: Int, warmupRatio: Double, startFactor: Double = 1e-5,
    etaMin: Double = 0
) -> [Double] {
    WarmupCosineSchedule(
        baseLR: baseLR, iterations: iterations, warmupRatio: warmupRatio,
        startFactor: startFactor, etaMin: etaMin
    ).values
}
