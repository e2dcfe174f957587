/// The BPE model of HF tokenizers (`models/bpe`): a word is split into characters (or, after the ByteLevel
/// pre-tokenizer, into one symbol per byte), characters missing from the vocabulary become `<0xNN>` byte tokens
/// (byte_fallback) or the unknown token (fused when fuse_unk), then merges are applied lowest rank first, ties
/// leftmost. With ignore_merges a word that is itself in the vocabulary is emitted whole. With an
/// end_of_word_suffix (CLIP's "</w>") the word's last character is looked up with the suffix appended, and with a
/// continuing_subword_prefix every character but the first with the prefix in front, before any merge.
final class BPEModel: Sendable {
    /// Token text (exact bytes) → id.
    let vocabulary: ByteKeyedTable<Int32>
    /// id → token text; nil for holes in the id range.
    let tokens: [String?]
    /// (left id, right id) → rank << 32 | merged id.
    private let merges: [UInt64: UInt64]
    let unknownId: Int32?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// `<0xNN>` token ids (-1 when absent).
    private let byteTokenIds: [Int32]
    private let asciiIds: [Int32]
    private let scalarIds: [UInt32: Int32]
    /// For byte-level input: id of each byte's stand-in character, and the raw-byte spelling of every token whose
    /// characters all map back to bytes (for the ignore_merges whole-word lookup).
    private let byteLevelIds: [Int32]
    private let rawByteVocabulary: ByteKeyedTable<Int32>
    /// See `SymbolVocabulary.canSplitBeforeMetaspace`; here the condition is on the merges.
    let splitsAtMetaspace: Bool
    /// HF `continuing_subword_prefix` and `end_of_word_suffix` (UTF-8), empty when unset.
    let continuingSubwordPrefix: [UInt8]
    let endOfWordSuffix: [UInt8]

    /// `merges`: pairs of token strings in rank order. Throws (naming `file` and `field`) when a merge refers to a
    /// token that is not in the vocabulary, as HF tokenizers does.
    init(
        vocabulary vocab: [(String, Int)], merges mergeList: [(String, String)], unknownToken: String?,
        fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool, continuingSubwordPrefix: String = "",
        endOfWordSuffix: String = "", file: String, field: String
    ) throws {
        let prefix = Array(continuingSubwordPrefix.utf8)
        self.continuingSubwordPrefix = prefix
        self.endOfWordSuffix = Array(endOfWordSuffix.utf8)
        if byteFallback && !(prefix.isEmpty && self.endOfWordSuffix.isEmpty) {
            // HF falls back on the bytes of the prefixed/suffixed symbol; no real tokenizer combines these.
            throw TokenizerError.unsupported(
                file: file, field: subfield(field, "byte_fallback"),
                value: "true together with continuing_subword_prefix or end_of_word_suffix")
        }
        var table = ByteKeyedTable<Int32>()
        var maxId = -1
        for (token, id) in vocab {
            guard id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.invalidField(
                    file: file, field: subfield(field, "vocab"), reason: "token id \(id) out of range")
            }
            table.set(Int32(id), for: token)
            maxId = max(maxId, id)
        }
        // Ids index a dense table; refuse absurdly sparse ones rather than allocating gigabytes.
        guard maxId < max(4 * vocab.count, 1 << 20) else {
            throw TokenizerError.invalidField(
                file: file, field: subfield(field, "vocab"),
                reason: "token id \(maxId) is far beyond the \(vocab.count) tokens")
        }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (token, id) in vocab { tokens[id] = token }
        self.tokens = tokens
        vocabulary = table

        var mergeTable: [UInt64: UInt64] = [:]
        mergeTable.reserveCapacity(mergeList.count)
        var splitSafe = true
        for (rank, (left, right)) in mergeList.enumerated() {
            guard let l = table.value(for: left), let r = table.value(for: right) else {
                throw TokenizerError.invalidField(
                    file: file, field: subfield(field, "merges"),
                    reason: "merge \(rank) (\"\(left)\", \"\(right)\") uses a token missing from the vocabulary")
            }
            // HF: the merged token is `a + b[prefix_len..]`, the right side's continuing prefix dropped.
            let rightBytes = Array(right.utf8)
            guard rightBytes.count >= prefix.count else {
                throw TokenizerError.invalidField(
                    file: file, field: subfield(field, "merges"),
                    reason: "merge \(rank) right side \"\(right)\" is shorter than continuing_subword_prefix")
            }
            let mergedBytes = Array(left.utf8) + rightBytes[prefix.count...]
            guard let merged = table.value(forBytes: mergedBytes) else {
                throw TokenizerError.invalidField(
                    file: file, field: subfield(field, "merges"),
                    reason: "merge \(rank) produces \"\(String(decoding: mergedBytes, as: UTF8.self))\", "
                        + "which is not in the vocabulary")
            }
            // A later duplicate overrides an earlier one, as when HF collects the merges into a map.
            mergeTable[SymbolVocabulary.pairKey(l, r)] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
            if right.unicodeScalars.first?.value == metaspaceScalar
                && left.unicodeScalars.last?.value != metaspaceScalar
            {
                splitSafe = false
            }
        }
        merges = mergeTable

        if let unknownToken {
            guard let id = table.value(for: unknownToken) else {
                throw TokenizerError.invalidField(
                    file: file, field: subfield(field, "unk_token"),
                    reason: "\"\(unknownToken)\" is not in the vocabulary")
            }
            unknownId = id
        } else {
            unknownId = nil
        }
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges

        var byteIds = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = table.value(for: SentencePieceModel.bytePiece(UInt8(b))) { byteIds[b] = id }
        }
        byteTokenIds = byteIds

        var ascii = [Int32](repeating: -1, count: 128)
        var scalars: [UInt32: Int32] = [:]
        var rawBytes = ByteKeyedTable<Int32>()
        for (token, id) in vocab {
            let tokenScalars = Array(token.unicodeScalars)
            if tokenScalars.count == 1 {
                let v = tokenScalars[0].value
                if v < 128 { ascii[Int(v)] = Int32(id) } else { scalars[v] = Int32(id) }
            }
            var raw: [UInt8] = []
            raw.reserveCapacity(tokenScalars.count)
            var allBytes = true
            for s in tokenScalars {
                guard let b = ByteLevel.byte(forCharacter: s.value) else { allBytes = false; break }
                raw.append(b)
            }
            if allBytes { rawBytes.set(Int32(id), forBytes: raw) }
        }
        asciiIds = ascii
        scalarIds = scalars
        rawByteVocabulary = rawBytes
        byteLevelIds = (0..<256).map { b in
            let c = ByteLevel.character(forByte: UInt8(b))
            return c < 128 ? ascii[Int(c)] : scalars[c] ?? -1
        }
        let metaspaceKnown = scalars[metaspaceScalar] != nil
        // Cutting a word into runs would put the suffix on every run's last character.
        splitsAtMetaspace = splitSafe && metaspaceKnown && prefix.isEmpty && self.endOfWordSuffix.isEmpty
    }

    var maxTokenId: Int { tokens.count - 1 }

    func id(forToken token: String) -> Int32? { vocabulary.value(for: token) }

    func token(forId id: Int) -> String? { tokens.indices.contains(id) ? tokens[id] : nil }

    /// Encodes one pre-token `p[range]`. `byteLevel`: the text went through the ByteLevel pre-tokenizer, so each
    /// byte stands for the character that bytes_to_unicode maps it to. `scratch` carries buffers and a word cache
    /// from one pre-token to the next within an encode call.
    func encodeWord(
        _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, byteLevel: Bool,
        scratch: inout BPEScratch, into ids: inout [Int32]
    ) {
        guard !range.isEmpty else { return }
        let word = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[range])
        if ignoreMerges {
            let whole = byteLevel ? rawByteVocabulary.value(for: word) : vocabulary.value(for: word)
            if let whole {
                ids.append(whole)
                return
            }
        }
        if splitsAtMetaspace && !byteLevel && range.count > 64 {
            forEachMetaspaceRun(p, range) { run in encodeCached(p, run, byteLevel: false, scratch: &scratch, into: &ids)
            }
        } else {
            encodeCached(p, range, byteLevel: byteLevel, scratch: &scratch, into: &ids)
        }
    }

    private func encodeCached(
        _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, byteLevel: Bool,
        scratch: inout BPEScratch, into ids: inout [Int32]
    ) {
        // Words repeat; long ones are rare and not worth keeping (HF does not cache them either).
        guard range.count <= 256 else {
            merge(p, range, byteLevel: byteLevel, scratch: &scratch, into: &ids)
            return
        }
        let key = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[range])
        if let cached = scratch.cache.value(for: key) {
            ids.append(contentsOf: cached)
            return
        }
        let start = ids.count
        merge(p, range, byteLevel: byteLevel, scratch: &scratch, into: &ids)
        scratch.cache.set(Array(ids[start...]), for: key)
    }

    /// HF `merge_word` + `Word::merge_all`.
    private func merge(
        _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, byteLevel: Bool,
        scratch: inout BPEScratch, into ids: inout [Int32]
    ) {
        scratch.reset()
        let affixed = !(continuingSubwordPrefix.isEmpty && endOfWordSuffix.isEmpty)
        var pendingUnknown: (id: Int32, length: Int)?
        var i = range.lowerBound
        while i < range.upperBound {
            var id: Int32
            let length: Int
            if affixed {
                (id, length) = affixedSymbol(p, i, range, byteLevel: byteLevel, scratch: &scratch)
            } else if byteLevel {
                id = byteLevelIds[Int(p[i])]
                length = 1
            } else {
                let (value, n) = scalarAt(p, i)
                length = n
                id = value < 128 ? asciiIds[Int(value)] : scalarIds[value] ?? -1
            }
            if id >= 0 {
                if let pending = pendingUnknown {
                    scratch.append(pending.id, length: pending.length)
                    pendingUnknown = nil
                }
                scratch.append(id, length: length)
                i += length
                continue
            }
            if byteFallback, appendByteTokens(p, i, length, byteLevel: byteLevel, scratch: &scratch) {
                i += length
                continue
            }
            if let unknownId {
                if let pending = pendingUnknown {
                    if fuseUnknown {
                        pendingUnknown = (pending.id, pending.length + length)
                    } else {
                        scratch.append(pending.id, length: pending.length)
                        pendingUnknown = (unknownId, length)
                    }
                } else {
                    pendingUnknown = (unknownId, length)
                }
            }
            // Without an unknown token the character is dropped, as in HF.
            i += length
        }
        if let pending = pendingUnknown { scratch.append(pending.id, length: pending.length) }
        scratch.mergeAll(merges)
        scratch.appendResult(to: &ids)
    }

    /// HF `merge_word` with a prefix or suffix: the character at `i` (a byte's stand-in after ByteLevel), with
    /// continuing_subword_prefix before it unless it starts the word and end_of_word_suffix after it if it ends the
    /// word, looked up as one symbol. Returns its id (-1 when missing) and its length in the input.
    private func affixedSymbol(
        _ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ range: Range<Int>, byteLevel: Bool,
        scratch: inout BPEScratch
    ) -> (Int32, Int) {
        let length = byteLevel ? 1 : scalarAt(p, i).length
        var symbol = scratch.symbol
        symbol.removeAll(keepingCapacity: true)
        if i != range.lowerBound { symbol.append(contentsOf: continuingSubwordPrefix) }
        if byteLevel {
            appendUTF8(ByteLevel.character(forByte: p[i]), to: &symbol)
        } else {
            symbol.append(contentsOf: UnsafeBufferPointer(rebasing: p[i..<(i + length)]))
        }
        if i + length == range.upperBound { symbol.append(contentsOf: endOfWordSuffix) }
        let id = vocabulary.value(forBytes: symbol) ?? -1
        scratch.symbol = symbol
        return (id, length)
    }

    /// Byte fallback for one character: all its UTF-8 bytes as `<0xNN>` tokens, or nothing if one is missing.
    private func appendByteTokens(
        _ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ length: Int, byteLevel: Bool,
        scratch: inout BPEScratch
    ) -> Bool {
        if byteLevel {
            // The character HF sees is the byte's stand-in, whose own UTF-8 bytes are what it falls back to.
            var encoded: [UInt8] = []
            appendUTF8(ByteLevel.character(forByte: p[i]), to: &encoded)
            guard encoded.allSatisfy({ byteTokenIds[Int($0)] >= 0 }) else { return false }
            for b in encoded { scratch.append(byteTokenIds[Int(b)], length: 1) }
            return true
        }
        for k in i..<(i + length) where byteTokenIds[Int(p[k])] < 0 { return false }
        for k in i..<(i + length) { scratch.append(byteTokenIds[Int(p[k])], length: 1) }
        return true
    }
}

/// `field.key`, or `key` alone when the model is the whole file (vocab.json + merges.txt).
private func subfield(_ field: String, _ key: String) -> String { field.isEmpty ? key : "\(field).\(key)" }

/// Reusable buffers for `BPEModel` (symbols, merge queue) plus the per-call word cache.
struct BPEScratch {
    private var ids: [Int32] = []
    private var lengths: [Int32] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
    private var queue = MergeQueue()
    var cache = ByteKeyedTable<[Int32]>()
    /// The bytes of one prefixed or suffixed symbol being looked up.
    var symbol: [UInt8] = []

    mutating func reset() {
        ids.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        queue.removeAll()
    }

    @inline(__always)
    mutating func append(_ id: Int32, length: Int) {
        let index = Int32(ids.count)
        if index > 0 { next[Int(index) - 1] = index }
        ids.append(id)
        lengths.append(Int32(length))
        prev.append(index - 1)
        next.append(-1)
    }

    /// `Word::merge_all` of HF tokenizers, including its acceptance rule for queued merges: a candidate is applied
    /// when the pair now at its position merges into the same token (the rank is not re-checked).
    mutating func mergeAll(_ merges: [UInt64: UInt64]) {
        let count = ids.count
        guard count > 1 else { return }
        for k in 0..<(count - 1) {
            if let m = merges[SymbolVocabulary.pairKey(ids[k], ids[k + 1])] {
                queue.push(
                    MergeCandidate(
                        key: (m >> 32) << 32 | UInt64(k), left: Int32(k), right: 0, size: 0,
                        merged: Int32(bitPattern: UInt32(truncatingIfNeeded: m))))
            }
        }
        while let top = queue.pop() {
            let pos = Int(top.left)
            if lengths[pos] == 0 || next[pos] == -1 { continue }
            let right = Int(next[pos])
            guard let m = merges[SymbolVocabulary.pairKey(ids[pos], ids[right])],
                Int32(bitPattern: UInt32(truncatingIfNeeded: m)) == top.merged
            else { continue }
            ids[pos] = top.merged
            lengths[pos] += lengths[right]
            next[pos] = next[right]
            lengths[right] = 0
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0 {
                let before = Int(prev[pos])
                if let m = merges[SymbolVocabulary.pairKey(ids[before], ids[pos])] {
                    queue.push(
                        MergeCandidate(
                            key: (m >> 32) << 32 | UInt64(before), left: Int32(before), right: 0,
                            size: 0, merged: Int32(bitPattern: UInt32(truncatingIfNeeded: m))))
                }
            }
            if next[pos] >= 0 {
                let after = Int(next[pos])
                if let m = merges[SymbolVocabulary.pairKey(ids[pos], ids[after])] {
                    queue.push(
                        MergeCandidate(
                            key: (m >> 32) << 32 | UInt64(pos), left: Int32(pos), right: 0,
                            size: 0, merged: Int32(bitPattern: UInt32(truncatingIfNeeded: m))))
                }
            }
        }
    }

    func appendResult(to out: inout [Int32]) {
        for k in 0..<ids.count where lengths[k] != 0 { out.append(ids[k]) }
    }
}
