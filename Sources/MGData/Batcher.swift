import Foundation

/// Where a `Batcher` stands: the epoch and the next position in that epoch's order. Saved with checkpoints;
/// because sampler orders are pure functions of (seed, epoch), restoring it resumes the exact sample stream.
public struct BatchCursor: Codable, Equatable, Sendable {
    public var epoch: Int
    public var position: Int

    public init(epoch: Int = 0, position: Int = 0) {
        self.epoch = epoch
        self.position = position
    }
}

/// Walks a sampler's indices in batches of `batchSize`, epoch after epoch. No collation happens here: the model
/// pads a `[MultimodalSample]` itself. Batches do not cross epochs; the last one of an epoch is short unless
/// `dropLast`.
public struct Batcher<Sampler: IndexSampler> {
    public let sampler: Sampler
    public let batchSize: Int
    public let dropLast: Bool
    public private(set) var cursor: BatchCursor
    private var order: [Int]
    private var orderEpoch: Int

    public init(sampler: Sampler, batchSize: Int, dropLast: Bool = false, cursor: BatchCursor = BatchCursor()) throws {
        guard batchSize > 0 else { throw DataError.invalidConfiguration("batch size \(batchSize) must be positive") }
        guard sampler.count > 0, !(dropLast && sampler.count < batchSize) else {
            throw DataError.invalidConfiguration(
                "the sampler yields \(sampler.count) indices per epoch, "
                    + "too few for one batch of \(batchSize)")
        }
        guard cursor.epoch >= 0, (0...sampler.count).contains(cursor.position) else {
            throw DataError.invalidConfiguration(
                "cursor epoch \(cursor.epoch) position \(cursor.position) is outside "
                    + "0...\(sampler.count)")
        }
        self.sampler = sampler
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.cursor = cursor
        order = sampler.indices(epoch: cursor.epoch)
        orderEpoch = cursor.epoch
    }

    /// Batches per epoch.
    public var batchesPerEpoch: Int {
        dropLast ? sampler.count / batchSize : (sampler.count + batchSize - 1) / batchSize
    }

    /// The next batch of dataset indices; moves to the next epoch when this one is used up.
    public mutating func nextBatch() -> [Int] {
        let usable = dropLast ? sampler.count / batchSize * batchSize : sampler.count
        if cursor.position >= usable { startEpoch(cursor.epoch + 1) }
        let end = min(cursor.position + batchSize, usable)
        let batch = Array(order[cursor.position..<end])
        cursor.position = end
        return batch
    }

    /// One more index, for replacing a sample that `LLaVADataset.sample(at:)` skipped. Consumes the stream like
    /// a batch does, so resume stays exact.
    public mutating func nextIndex() -> Int {
        if cursor.position >= order.count { startEpoch(cursor.epoch + 1) }
        let index = order[cursor.position]
        cursor.position += 1
        return index
    }

    private mutating func startEpoch(_ epoch: Int) {
        cursor = BatchCursor(epoch: epoch, position: 0)
        if orderEpoch != epoch {
            order = sampler.indices(epoch: epoch)
            orderEpoch = epoch
        }
    }
}
