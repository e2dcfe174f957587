import XCTest
import MGData
import MGTestSupport

final class SamplerTests: XCTestCase {
    func testRandomSamplerIsSeededPermutationPerEpoch() {
        let sampler = RandomSampler(size: 50, seed: 7)
        let e0 = sampler.indices(epoch: 0), e1 = sampler.indices(epoch: 1)
        XCTAssertEqual(e0.sorted(), Array(0..<50))
        XCTAssertEqual(e1.sorted(), Array(0..<50))
        XCTAssertNotEqual(e0, e1)
        XCTAssertEqual(e0, RandomSampler(size: 50, seed: 7).indices(epoch: 0))
        XCTAssertNotEqual(e0, RandomSampler(size: 50, seed: 8).indices(epoch: 0))
    }

    func testBatcherResumesExactly() throws {
        let sampler = RandomSampler(size: 10, seed: 3)
        var full = try Batcher(sampler: sampler, batchSize: 4)
        XCTAssertEqual(full.batchesPerEpoch, 3)
        var stream: [[Int]] = []
        var saved = BatchCursor()
        for step in 0..<8 {
            if step == 4 { saved = full.cursor }
            stream.append(full.nextBatch())
        }
        XCTAssertEqual(stream[0] + stream[1] + stream[2], sampler.indices(epoch: 0))
        XCTAssertEqual(stream[2].count, 2)
        let data = try JSONEncoder().encode(saved)
        var resumed = try Batcher(
            sampler: sampler, batchSize: 4, cursor: try JSONDecoder().decode(BatchCursor.self, from: data))
        XCTAssertEqual((4..<8).map { _ in resumed.nextBatch() }, Array(stream[4..<8]))
        var dropping = try Batcher(sampler: sampler, batchSize: 4, dropLast: true)
        XCTAssertEqual((0..<3).map { _ in dropping.nextBatch().count }, [4, 4, 4])
        XCTAssertEqual(dropping.cursor.epoch, 1)
        XCTAssertThrowsError(try Batcher(sampler: RandomSampler(size: 0, seed: 0), batchSize: 2))
        XCTAssertThrowsError(try Batcher(sampler: sampler, batchSize: 0))
    }

    func testLengthGroupingKeepsModalitiesApartAndSortsMegabatches() throws {
        var lengths: [Int] = []
        for i in 0..<37 { lengths.append(i % 3 == 0 ? -(5 + i) : 10 + (i * 7) % 23) }
        let sampler = try LengthGroupedSampler(
            lengths: lengths, perDeviceBatchSize: 2, worldSize: 2, megaBatchMult: 1,
            seed: 11, roundUp: false)
        XCTAssertEqual(sampler.groupBatchSize, 4)
        var generator = Generator(seed: 11)
        let order = LengthGroupedSampler.groupedIndices(lengths: lengths, groupBatchSize: 4, generator: &generator)
        XCTAssertEqual(order.sorted(), Array(0..<37))
        // Longest sample first.
        XCTAssertEqual(abs(lengths[order[0]]), lengths.map(abs).max())
        // Megabatch boundaries: full megabatches (4) first, then one tail mixing both modalities' remainders.
        let imageCount = lengths.filter { $0 > 0 }.count, textCount = 37 - imageCount
        let fullCount = (imageCount - 1) / 4 * 4 + (textCount - 1) / 4 * 4
        for start in Swift.stride(from: 0, to: fullCount, by: 4) {
            let group = Array(order[start..<start + 4])
            // Only first elements move (the longest-first swap), so the rest show the megabatch's modality.
            let signs = Set(group.dropFirst().map { lengths[$0] > 0 })
            XCTAssertEqual(signs.count, 1, "megabatch at \(start) mixes modalities")
            let sizes = group.map { abs(lengths[$0]) }
            // The first element may be the swapped-in longest sample; the rest stay sorted.
            XCTAssertEqual(Array(sizes.dropFirst()), sizes.dropFirst().sorted(by: >), "megabatch at \(start)")
        }
        let tail = order[fullCount...].map { abs(lengths[$0]) }
        XCTAssertEqual(Array(tail.dropFirst()), tail.dropFirst().sorted(by: >))
        // Ranks split the same order; the whole thing is a function of seed and epoch.
        let rank1 = try LengthGroupedSampler(
            lengths: lengths, perDeviceBatchSize: 2, worldSize: 2, rank: 1,
            megaBatchMult: 1, seed: 11, roundUp: false)
        XCTAssertEqual(sampler.indices(epoch: 0), Swift.stride(from: 0, to: 37, by: 2).map { order[$0] })
        XCTAssertEqual(rank1.indices(epoch: 0), Swift.stride(from: 1, to: 37, by: 2).map { order[$0] })
        // A function of (seed, epoch): a second sampler built alike yields the same order.
        let again = try LengthGroupedSampler(
            lengths: lengths, perDeviceBatchSize: 2, worldSize: 2, megaBatchMult: 1,
            seed: 11, roundUp: false)
        XCTAssertEqual(again.indices(epoch: 3), sampler.indices(epoch: 3))
        XCTAssertNotEqual(sampler.indices(epoch: 0), sampler.indices(epoch: 1))
    }

    func testLengthGroupedRoundUpAndValidation() throws {
        let sampler = try LengthGroupedSampler(lengths: Array(1...10), perDeviceBatchSize: 4, seed: 1)
        XCTAssertEqual(sampler.count, 12)
        let indices = sampler.indices(epoch: 0)
        XCTAssertEqual(indices.count, 12)
        XCTAssertEqual(Set(indices), Set(0..<10))
        XCTAssertEqual(indices[0], 9)  // the longest first
        XCTAssertThrowsError(try LengthGroupedSampler(lengths: [3, 0], perDeviceBatchSize: 1, seed: 0))
        XCTAssertThrowsError(try LengthGroupedSampler(lengths: [], perDeviceBatchSize: 1, seed: 0))
    }

    /// xtuner's own `LengthGroupedSampler` (run by scripts/fixtures/samplers/make_length_grouped.py on permutations
    /// it recorded) and this one, replaying those permutations, give every rank the same indices: megabatch
    /// grouping, the stable longest-first sort with ties, the modality split and the mixed last megabatch, the
    /// longest-first swap, round-up padding and rank striding.
    func testLengthGroupedOrderMatchesXTuner() throws {
        struct Case: Decodable {
            let lengths: [Int]
            let per_device_batch_size: Int
            let world_size: Int
            let mega_batch_mult: Int?
            let round_up: Bool
            let group_batch_size: Int
            let permutations: [[Int]]
            let indices_per_rank: [[Int]]
        }
        struct File: Decodable { let cases: [Case] }
        let file = try JSONDecoder().decode(
            File.self, from: Data(contentsOf: Fixtures.url("samplers/length-grouped.json")))
        XCTAssertEqual(file.cases.count, 8)
        for (n, c) in file.cases.enumerated() {
            for rank in 0..<c.world_size {
                let sampler = try LengthGroupedSampler(
                    lengths: c.lengths, perDeviceBatchSize: c.per_device_batch_size,
                    worldSize: c.world_size, rank: rank, megaBatchMult: c.mega_batch_mult,
                    seed: 5, roundUp: c.round_up)
                XCTAssertEqual(sampler.groupBatchSize, c.group_batch_size, "case \(n)")
                var replay = c.permutations.makeIterator()
                let order = LengthGroupedSampler.groupedIndices(
                    lengths: c.lengths, groupBatchSize: sampler.groupBatchSize
                ) { count in
                    let p = replay.next() ?? []
                    XCTAssertEqual(p.count, count, "case \(n): permutation size")
                    return p.count == count ? p : Array(0..<count)
                }
                XCTAssertNil(replay.next(), "case \(n): upstream drew more permutations")
                XCTAssertEqual(sampler.distribute(order), c.indices_per_rank[rank], "case \(n) rank \(rank)")
                XCTAssertEqual(sampler.count, c.indices_per_rank[rank].count, "case \(n) rank \(rank)")
            }
        }
    }
}
