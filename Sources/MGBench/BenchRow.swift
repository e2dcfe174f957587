import Foundation

/// One row of the performance suite: what a `mgllava bench …` child reports to `mgllava bench all` — our time for
/// a unit of work against the time of a bound (raw sgemm on the same GEMM shapes, or the copy bandwidth) measured
/// in the same process and run.
public struct BenchRow: Codable, Equatable, Sendable {
    public var name: String
    /// Our time for the row's unit of work (a forward, a step, one decoded token).
    public var seconds: Double
    /// The bound's time for the same work, measured in the same process and run (nil: the row has no bound).
    public var boundSeconds: Double?
    /// What the bound is ("sgemm on the same shapes", "copy bandwidth").
    public var bound: String?
    /// Peak resident set size while the row ran, in bytes (weights of models built earlier in the same child
    /// included).
    public var peakRSS: Int
    /// A rate or note for the table ("8418 tokens/s").
    public var detail: String?

    public init(
        name: String, seconds: Double, boundSeconds: Double? = nil, bound: String? = nil, peakRSS: Int,
        detail: String? = nil
    ) {
        self.name = name
        self.seconds = seconds
        self.boundSeconds = boundSeconds
        self.bound = bound
        self.peakRSS = peakRSS
        self.detail = detail
    }

    /// Bound time ÷ our time: 1.00 is no overhead beyond the bound.
    public var ratio: Double? { boundSeconds.map { $0 / seconds } }
}
