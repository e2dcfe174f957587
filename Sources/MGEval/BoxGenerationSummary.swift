import Foundation
import MGData

/// An id whose image could not be used, and why (a missing or undecodable file, a zero-size image, a detector
/// error). Such ids get no box record; the run goes on.
public struct BoxGenerationFailure: Equatable, Sendable {
    /// The record's id.
    public var id: BoxRecordID
    /// Why, naming the image.
    public var reason: String

    /// A failure.
    public init(id: BoxRecordID, reason: String) {
        self.id = id
        self.reason = reason
    }
}

/// What a box generation did.
public struct BoxGenerationSummary: Equatable, Sendable {
    /// Distinct images in the input.
    public var images: Int
    /// Ids in the input (records sharing an image each count).
    public var ids: Int
    /// Images the detector was run on in this run (the rest came from the log, or the run was stopped).
    public var detected: Int
    /// Ids taken over from an earlier run's log.
    public var resumedIDs: Int
    /// Boxes in the box records written (or, when stopped, logged so far).
    public var boxes: Int
    /// Ids without a box record, with the reason, in input order (earlier runs' failures included).
    public var failures: [BoxGenerationFailure]
    /// Input records without an image (text-only conversations).
    public var skippedRecords: Int
    /// False when `shouldStop` ended the run early: then no final file was written and the log is kept.
    public var completed: Bool
    /// The final box JSON, when completed.
    public var output: URL?
    /// The log left on disk for a later run (stopped, or failures to retry), else nil (removed).
    public var log: URL?
    /// Lines of the earlier log that were not complete (a torn last line); their ids were redone.
    public var droppedLogLines: Int
    /// An earlier log written under other settings (input, queries or detector) was discarded.
    public var discardedStaleLog: Bool

    /// A summary.
    public init(
        images: Int, ids: Int, detected: Int, resumedIDs: Int, boxes: Int, failures: [BoxGenerationFailure],
        skippedRecords: Int, completed: Bool, output: URL?, log: URL?, droppedLogLines: Int,
        discardedStaleLog: Bool
    ) {
        self.images = images
        self.ids = ids
        self.detected = detected
        self.resumedIDs = resumedIDs
        self.boxes = boxes
        self.failures = failures
        self.skippedRecords = skippedRecords
        self.completed = completed
        self.output = output
        self.log = log
        self.droppedLogLines = droppedLogLines
        self.discardedStaleLog = discardedStaleLog
    }
}
