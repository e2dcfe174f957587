import Foundation
import MGData

/// Where a box generation stands, reported after each image (the command prints it; the library never does).
public struct BoxGenerationProgress: Equatable, Sendable {
    /// Images finished, those taken over from the log included.
    public var done: Int
    /// Images in the input.
    public var total: Int
    /// Images taken over from an earlier run's log (they cost no time and are left out of the rate).
    public var resumed: Int
    /// Seconds since this run started.
    public var elapsed: Double
    /// The ids of the image just finished.
    public var ids: [BoxRecordID]

    /// A progress report.
    public init(done: Int, total: Int, resumed: Int, elapsed: Double, ids: [BoxRecordID]) {
        self.done = done
        self.total = total
        self.resumed = resumed
        self.elapsed = elapsed
        self.ids = ids
    }

    /// Images detected per second in this run; 0 before any.
    public var imagesPerSecond: Double {
        let detected = done - resumed
        return detected > 0 && elapsed > 0 ? Double(detected) / elapsed : 0
    }

    /// Seconds left at the current rate; nil until there is a rate.
    public var secondsRemaining: Double? {
        let rate = imagesPerSecond
        return rate > 0 ? Double(total - done) / rate : nil
    }
}
