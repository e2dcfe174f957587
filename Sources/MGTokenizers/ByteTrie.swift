// A byte trie answering "longest key that starts at offset i". SentencePiece matches user-defined pieces this way
// (PrefixMatcher) and HF tokenizers finds added tokens with a leftmost-longest automaton, which amounts to the
// same scan from left to right. Key sets are small (tens to hundreds of tokens), so a trie with a first-byte filter
// is plenty.

struct ByteTrie: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var value: Int32 = -1
    }

    private var nodes: [Node] = [Node()]
    /// Bytes that start at least one key: the scan skips every other position without touching the trie.
    private(set) var firstBytes = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { nodes.count == 1 && nodes[0].value < 0 }

    init() {}

    /// Adds `key` with `value`; an existing key keeps the later value. Empty keys are ignored.
    mutating func insert<C: Collection>(_ key: C, value: Int32) where C.Element == UInt8 {
        guard let first = key.first else { return }
        firstBytes[Int(first)] = true
        var node = 0
        for byte in key {
            if let child = nodes[node].children[byte] {
                node = Int(child)
            } else {
                nodes.append(Node())
                let child = Int32(nodes.count - 1)
                nodes[node].children[byte] = child
                node = Int(child)
            }
        }
        nodes[node].value = value
    }

    /// The longest key starting at `i` (ending at or before `end`), as (byte length, value).
    @inline(__always)
    func longestMatch(in p: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> (length: Int, value: Int32)? {
        guard firstBytes[Int(p[i])] else { return nil }
        var node = 0
        var best: (Int, Int32)?
        var j = i
        while j < end, let child = nodes[node].children[p[j]] {
            node = Int(child)
            j += 1
            if nodes[node].value >= 0 { best = (j - i, nodes[node].value) }
        }
        return best
    }
}
