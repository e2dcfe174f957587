import XCTest

@testable import MGTensor

/// Large storages reuse freed mappings (MappedRegionPool): size classes, reuse, zeroing of reused memory, the cap.
final class MappedRegionPoolTests: XCTestCase {
    override func setUp() {
        super.setUp()
        MappedRegionPool.drain()
    }

    override func tearDown() {
        MappedRegionPool.drain()
        super.tearDown()
    }

    func testSizeClassesArePageMultiplesAtMostAQuarterOver() {
        var previous = 0
        for bytes in stride(from: 1, to: 64 << 20, by: 12_345) + [4096, 4097, 1 << 20, (1 << 20) + 1, 5 << 20] {
            let size = MappedRegionPool.sizeClass(bytes)
            XCTAssertEqual(size % 4096, 0, "\(bytes)")
            XCTAssertGreaterThanOrEqual(size, bytes, "\(bytes)")
            XCTAssertLessThanOrEqual(Double(size), Double(max(bytes, 4096 * 4)) * 1.25 + 4096, "\(bytes)")
            if bytes > previous { XCTAssertGreaterThanOrEqual(size, MappedRegionPool.sizeClass(previous)) }
            previous = bytes
        }
        // Requests a little apart share a class; four classes per doubling.
        XCTAssertEqual(MappedRegionPool.sizeClass(1_000_000), MappedRegionPool.sizeClass(1_040_000))
        let classes = Set(stride(from: (1 << 22) + 1, through: 1 << 23, by: 4096).map(MappedRegionPool.sizeClass))
        XCTAssertEqual(classes.count, 4)
    }

    func testFreedLargeStorageIsReusedAndZeroedWhenAskedFor() {
        let count = (3 << 20) / 4  // 3 MiB of floats: mapped
        var first: Storage? = Storage(uninitializedCount: count, dtype: .float32)
        let address = first!.pointer
        first!.floats.update(repeating: 7, count: count)
        first = nil
        XCTAssertEqual(MappedRegionPool.heldBytes, MappedRegionPool.sizeClass(count * 4))
        let zeroed = Storage(zeroedCount: count - 100, dtype: .float32)  // the same class
        XCTAssertEqual(zeroed.pointer, address, "the freed region is taken again")
        XCTAssertEqual(MappedRegionPool.heldBytes, 0)
        XCTAssertTrue((0..<(count - 100)).allSatisfy { zeroed.floats[$0] == 0 }, "reused memory must be cleared")
        // Small storages never enter the pool.
        _ = Storage(uninitializedCount: 1000, dtype: .float32)
        XCTAssertEqual(MappedRegionPool.heldBytes, 0)
    }

    func testThePoolStaysWithinItsCapacity() {
        let big = MappedRegionPool.capacity / 3 + 4096
        var storages = (0..<4).map { _ in Storage(uninitializedCount: big / 4, dtype: .float32) }
        for s in storages { s.floats[0] = 1 }
        storages.removeAll()
        XCTAssertLessThanOrEqual(MappedRegionPool.heldBytes, MappedRegionPool.capacity)
        XCTAssertGreaterThan(MappedRegionPool.heldBytes, 0)
        // A region of another class, freed, evicts what no longer fits and is kept itself.
        let otherBytes = big + (1 << 22)
        var other: Storage? = Storage(uninitializedCount: otherBytes / 4, dtype: .float32)
        other!.floats[0] = 1
        other = nil
        XCTAssertLessThanOrEqual(MappedRegionPool.heldBytes, MappedRegionPool.capacity)
        XCTAssertNotNil(
            MappedRegionPool.take(MappedRegionPool.sizeClass(otherBytes)).map { region in
                munmap(region, MappedRegionPool.sizeClass(otherBytes))
            })
    }

    func testLoweringTheCapacityUnmapsWhatNoLongerFits() {
        let saved = LargeAllocationPool.capacity
        defer { LargeAllocationPool.capacity = saved }
        var storage: Storage? = Storage(uninitializedCount: 1 << 20, dtype: .float32)  // 4 MiB
        storage!.floats[0] = 1
        storage = nil
        XCTAssertGreaterThanOrEqual(MappedRegionPool.heldBytes, 4 << 20)
        LargeAllocationPool.capacity = 1 << 20
        XCTAssertEqual(LargeAllocationPool.capacity, 1 << 20)
        XCTAssertLessThanOrEqual(MappedRegionPool.heldBytes, 1 << 20)
        // A region larger than the capacity is unmapped when freed, not kept.
        var large: Storage? = Storage(uninitializedCount: 1 << 20, dtype: .float32)
        large!.floats[0] = 1
        large = nil
        XCTAssertLessThanOrEqual(MappedRegionPool.heldBytes, 1 << 20)
    }
}
