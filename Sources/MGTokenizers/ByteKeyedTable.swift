import Foundation

/// A hash table keyed by exact byte strings. Token vocabularies and encode caches must not use `String` keys:
/// Swift compares strings by canonical equivalence, so "é" (U+00E9) and "e" + U+0301 would be the same key, while
/// for a tokenizer they are different text with different ids. Keys live in one byte arena and lookups take a
/// buffer, so a hot loop can probe with a slice of its input without allocating.
struct ByteKeyedTable<Value> {
    private var arena: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []
    private var hashes: [Int] = []
    private(set) var values: [Value] = []
    /// Open addressing with linear probing; each slot holds an entry index or -1. Capacity is a power of two.
    private var slots = [Int32](repeating: -1, count: 16)

    init() {}

    var count: Int { values.count }
    var isEmpty: Bool { values.isEmpty }

    @inline(__always)
    private static func hash(_ key: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: key)
        return hasher.finalize()
    }

    /// Entry index of `key`, if present.
    func index(of key: UnsafeRawBufferPointer) -> Int? {
        let h = Self.hash(key)
        let mask = slots.count - 1
        var slot = h & mask
        return arena.withUnsafeBytes { stored in
            while true {
                // The force-unwrapped base addresses are non-nil: both buffers hold at least key.count > 0 bytes.
                let entry = Int(slots[slot])
                if entry < 0 { return nil }
                if hashes[entry] == h && lengths[entry] == key.count
                    && (key.count == 0
                        || memcmp(stored.baseAddress! + offsets[entry], key.baseAddress!, key.count) == 0)
                {
                    return entry
                }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(__always)
    func value(for key: UnsafeRawBufferPointer) -> Value? {
        index(of: key).map { values[$0] }
    }

    @inline(__always)
    func value(for key: UnsafeBufferPointer<UInt8>) -> Value? {
        value(for: UnsafeRawBufferPointer(key))
    }

    func value(for key: String) -> Value? {
        var key = key
        return key.withUTF8 { value(for: UnsafeRawBufferPointer($0)) }
    }

    func value(forBytes key: [UInt8]) -> Value? {
        key.withUnsafeBytes { value(for: $0) }
    }

    /// Inserts or replaces; returns the entry index.
    @discardableResult
    mutating func set(_ value: Value, for key: UnsafeRawBufferPointer) -> Int {
        if let existing = index(of: key) {
            values[existing] = value
            return existing
        }
        if (values.count + 1) * 2 > slots.count { grow() }
        let h = Self.hash(key)
        let entry = values.count
        offsets.append(arena.count)
        lengths.append(key.count)
        hashes.append(h)
        arena.append(contentsOf: key)
        values.append(value)
        insertSlot(entry: entry, hash: h)
        return entry
    }

    @discardableResult
    mutating func set(_ value: Value, for key: String) -> Int {
        var key = key
        return key.withUTF8 { set(value, for: UnsafeRawBufferPointer($0)) }
    }

    @discardableResult
    mutating func set(_ value: Value, forBytes key: [UInt8]) -> Int {
        key.withUnsafeBytes { set(value, for: $0) }
    }

    /// Adds `key` unless present (then nothing changes); returns whether it was added.
    mutating func insertNew(_ key: String) -> Bool where Value == Bool {
        var key = key
        return key.withUTF8 { raw in
            let bytes = UnsafeRawBufferPointer(raw)
            if index(of: bytes) != nil { return false }
            set(true, for: bytes)
            return true
        }
    }

    func key(at entry: Int) -> [UInt8] { Array(arena[offsets[entry]..<(offsets[entry] + lengths[entry])]) }

    private mutating func insertSlot(entry: Int, hash: Int) {
        let mask = slots.count - 1
        var slot = hash & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for entry in 0..<values.count { insertSlot(entry: entry, hash: hashes[entry]) }
    }
}
