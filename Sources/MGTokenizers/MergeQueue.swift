// The priority queue behind both BPE variants: a binary min-heap of candidate merges ordered by one packed 64-bit
// key (priority in the high half, left symbol position in the low half, so equal priorities go leftmost first).

struct MergeCandidate {
    var key: UInt64
    /// Left symbol index (SentencePiece also keeps it in `key`; stored again for direct access).
    var left: Int32
    /// SentencePiece: right symbol index. HF BPE: unused.
    var right: Int32
    /// SentencePiece: byte length of the merged piece. HF BPE: unused.
    var size: Int32
    /// Id of the piece the merge produces.
    var merged: Int32
}

struct MergeQueue {
    private var heap: [MergeCandidate] = []

    var isEmpty: Bool { heap.isEmpty }

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ candidate: MergeCandidate) {
        heap.append(candidate)
        var child = heap.count - 1
        let key = candidate.key
        while child > 0 {
            let parent = (child - 1) >> 1
            if heap[parent].key <= key { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        let count = heap.count
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            var smallest = left
            let right = left + 1
            if right < count && heap[right].key < heap[left].key { smallest = right }
            if heap[smallest].key >= heap[parent].key { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    /// Packs a SentencePiece score so that a higher score sorts first, with -0.0 and 0.0 equal (C++ compares them
    /// as equal, so their ties must fall through to the position).
    @inline(__always)
    static func descendingKey(forScore score: Float) -> UInt32 {
        let canonical: Float = score == 0 ? 0 : score
        let bits = canonical.bitPattern
        // Order-preserving map of IEEE floats onto unsigned integers, then inverted for "largest first".
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return ~ascending
    }
}
