import Foundation

/// An epoch's sample order. The order is a pure function of the sampler's seed and `epoch`, so a resumed run
/// recomputes it and continues from a saved position (`BatchCursor`).
public protocol IndexSampler {
    /// Number of indices one epoch yields (may exceed the dataset size when padded to whole batches).
    var count: Int { get }
    func indices(epoch: Int) -> [Int]
}

/// A fresh permutation of `0..<size` per epoch (torch's `DefaultSampler(shuffle=True)` with `seed + epoch`).
public struct RandomSampler: IndexSampler, Sendable {
    public let size: Int
    public let seed: UInt64

    public init(size: Int, seed: UInt64) {
        self.size = size
        self.seed = seed
    }

    public var count: Int { size }

    public func indices(epoch: Int) -> [Int] {
        var generator = Generator(seed: seed &+ UInt64(truncatingIfNeeded: epoch))
        return generator.permutation(size)
    }
}

/// XTuner's `LengthGroupedSampler` (xtuner/dataset/samplers/length_grouped.py) over `modality_length`s:
/// a random permutation is cut into megabatches of `megaBatchMult × worldSize × perDeviceBatchSize`, each sorted
/// by length, longest first. With both image (> 0) and text-only (< 0) samples, each modality is grouped on its
/// own, the full megabatches of both are shuffled together, and the two remainders form one final megabatch. The
/// longest sample overall is swapped to the front (so an out-of-memory shows at step one). `roundUp` repeats the
/// order to fill whole global batches; `rank` takes every `worldSize`-th index from `rank` on.
///
/// Upstream draws its permutations from torch's generator, so the orders differ from upstream's for the same
/// seed; the grouping rule is the same.
public struct LengthGroupedSampler: IndexSampler, Sendable {
    public let lengths: [Int]
    public let perDeviceBatchSize: Int
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64
    public let roundUp: Bool
    /// `mega_batch_mult × per_device_batch_size × world_size`.
    public let groupBatchSize: Int

    /// `megaBatchMult` nil takes upstream's default: min(len / (total batch × 4), 50), at least 1.
    public init(
        lengths: [Int], perDeviceBatchSize: Int, worldSize: Int = 1, rank: Int = 0, megaBatchMult: Int? = nil,
        seed: UInt64, roundUp: Bool = true
    ) throws {
        guard perDeviceBatchSize > 0, worldSize > 0, (0..<worldSize).contains(rank) else {
            throw DataError.invalidConfiguration(
                "length-grouped sampler: batch size \(perDeviceBatchSize), world size "
                    + "\(worldSize), rank \(rank) (expected positive sizes and 0 ≤ rank < world size)")
        }
        guard !lengths.isEmpty else {
            throw DataError.invalidConfiguration("length-grouped sampler: the dataset is empty")
        }
        if let zero = lengths.firstIndex(of: 0) {
            // Zero carries no modality sign; upstream asserts the same.
            throw DataError.invalidConfiguration("length-grouped sampler: sample \(zero) has length 0")
        }
        let total = perDeviceBatchSize * worldSize
        let mult = megaBatchMult ?? max(min(lengths.count / (total * 4), 50), 1)
        guard mult > 0 else {
            throw DataError.invalidConfiguration("length-grouped sampler: megaBatchMult \(mult) < 1")
        }
        self.lengths = lengths
        self.perDeviceBatchSize = perDeviceBatchSize
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.roundUp = roundUp
        self.groupBatchSize = mult * total
    }

    /// Indices this rank yields per epoch.
    public var count: Int {
        if roundUp {
            let iterations = (lengths.count + perDeviceBatchSize * worldSize - 1) / (perDeviceBatchSize * worldSize)
            return iterations * perDeviceBatchSize
        }
        return (lengths.count - rank + worldSize - 1) / worldSize
    }

    public func indices(epoch: Int) -> [Int] {
        var generator = Generator(seed: seed &+ UInt64(truncatingIfNeeded: epoch))
        return distribute(
            LengthGroupedSampler.groupedIndices(
                lengths: lengths, groupBatchSize: groupBatchSize,
                generator: &generator))
    }

    /// This rank's share of the whole `order`: padded by repetition to whole batches on every rank (`roundUp`),
    /// then every `worldSize`-th index from `rank`.
    public func distribute(_ order: [Int]) -> [Int] {
        var order = order
        let totalSize = roundUp ? count * worldSize : lengths.count
        if roundUp && order.count < totalSize {
            var padded: [Int] = []
            while padded.count < totalSize { padded += order }
            order = Array(padded.prefix(totalSize))
        }
        return Swift.stride(from: rank, to: totalSize, by: worldSize).map { order[$0] }
    }

    /// `get_length_grouped_indices`: the whole order, before padding and rank subsampling.
    public static func groupedIndices(lengths: [Int], groupBatchSize: Int, generator: inout Generator) -> [Int] {
        groupedIndices(lengths: lengths, groupBatchSize: groupBatchSize) { generator.permutation($0) }
    }

    /// `groupedIndices` drawing its random permutations of 0..<n from `permutation(n)` (upstream's
    /// `torch.randperm`), in upstream's order of calls: so a test can replay the permutations upstream drew.
    public static func groupedIndices(lengths: [Int], groupBatchSize: Int, permutation: (Int) -> [Int]) -> [Int] {
        func megabatches(_ lengths: [Int]) -> [[Int]] {
            let permutation = permutation(lengths.count)
            return Swift.stride(from: 0, to: lengths.count, by: groupBatchSize).map { start in
                // Stable sort, longest first, like Python's `sorted(..., reverse=True)`.
                Array(permutation[start..<min(start + groupBatchSize, lengths.count)])
                    .enumerated().sorted { a, b in
                        lengths[a.element] != lengths[b.element]
                            ? lengths[a.element] > lengths[b.element] : a.offset < b.offset
                    }.map(\.element)
            }
        }
        var groups: [[Int]]
        if lengths.allSatisfy({ $0 > 0 }) || lengths.allSatisfy({ $0 < 0 }) {
            groups = megabatches(lengths)
        } else {
            let image = lengths.indices.filter { lengths[$0] > 0 }
            let text = lengths.indices.filter { lengths[$0] < 0 }
            let imageGroups = megabatches(image.map { lengths[$0] }).map { $0.map { image[$0] } }
            let textGroups = megabatches(text.map { -lengths[$0] }).map { $0.map { text[$0] } }
            let last = (imageGroups.last ?? []) + (textGroups.last ?? [])
            let full = Array(imageGroups.dropLast()) + Array(textGroups.dropLast())
            groups = permutation(full.count).map { full[$0] }
            if !last.isEmpty {
                groups.append(
                    last.enumerated().sorted { a, b in
                        let la = abs(lengths[a.element]), lb = abs(lengths[b.element])
                        return la != lb ? la > lb : a.offset < b.offset
                    }.map(\.element))
            }
        }
        // Longest sample first (torch.argmax returns the first maximum).
        if let first = groups.first, !first.isEmpty {
            var best = 0
            for (g, group) in groups.enumerated() where abs(lengths[group[0]]) > abs(lengths[groups[best][0]]) {
                best = g
            }
            let head = groups[0][0]
            groups[0][0] = groups[best][0]
            groups[best][0] = head
        }
        return groups.flatMap { $0 }
    }
}

/// The sampler the config asks for, as one concrete type so the `Batcher` need not be generic in the trainer.
public enum TrainSampler: IndexSampler, Sendable {
    case random(RandomSampler)
    case lengthGrouped(LengthGroupedSampler)

    public var count: Int {
        switch self {
        case .random(let s): return s.count
        case .lengthGrouped(let s): return s.count
        }
    }

    public func indices(epoch: Int) -> [Int] {
        switch self {
        case .random(let s): return s.indices(epoch: epoch)
        case .lengthGrouped(let s): return s.indices(epoch: epoch)
        }
    }
}
