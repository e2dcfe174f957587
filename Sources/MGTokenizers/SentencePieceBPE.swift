// The merge loop of sentencepiece's bpe_model.cc, plus the output step of PopulateSentencePieceText.

/// Calls `body` with the sub-ranges of `range` that start at each "▁" run (the first one starts at the range start).
func forEachMetaspaceRun(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
    var start = range.lowerBound
    var i = range.lowerBound
    var previousWasMetaspace = false
    while i < range.upperBound {
        if p.hasMetaspace(at: i, end: range.upperBound) {
            if !previousWasMetaspace && i > start {
                body(start..<i)
                start = i
            }
            previousWasMetaspace = true
            i += 3
        } else {
            previousWasMetaspace = false
            i += 1
        }
    }
    if start < range.upperBound { body(start..<range.upperBound) }
}

/// The merge loop of bpe_model.cc over one span of normalized text. Reused across spans to keep its buffers.
struct SentencePieceMerger {
    struct Symbol {
        var symbol: Int32
        var start: Int
        var length: Int
        var prev: Int32
        var next: Int32
        var frozen: Bool
    }

    private var symbols: [Symbol] = []
    private var queue = MergeQueue()
    /// Merged unused piece → the pair it was last proposed from (sentencepiece's `rev_merge`).
    private var reverseMerges: [Int32: (Int32, Int32)] = [:]

    /// One output piece: its id and the normalized bytes it covers (a byte piece covers one byte).
    struct Piece {
        var id: Int32
        var start: Int
        var length: Int
    }

    /// Encodes `p[range]` (normalized text): merge, then resegment unused pieces and expand or join unknown ones.
    mutating func encode(
        _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
        processor: SentencePieceProcessor
    ) -> [Piece] {
        var pieces: [Piece] = []
        var previousUnknown = false
        for symbol in merge(p, range, processor: processor) {
            output(
                symbol.symbol, start: symbol.start, length: symbol.length, p: p, processor: processor,
                into: &pieces, previousUnknown: &previousUnknown)
        }
        return pieces
    }

    /// Output of one final symbol: an unused piece is split back into the pair it was merged from (bpe_model.cc
    /// `resegment`); an unknown piece becomes byte pieces (byte fallback) or joins a preceding unknown piece
    /// (PopulateSentencePieceText).
    private func output(
        _ symbol: Int32, start: Int, length: Int, p: UnsafeBufferPointer<UInt8>,
        processor: SentencePieceProcessor, into pieces: inout [Piece], previousUnknown: inout Bool
    ) {
        let unknown = Int32(processor.unkId)
        var id = processor.vocabulary.outputId(symbol, p: p, start: start, length: length, unknown: unknown)
        if id >= 0 && processor.types[Int(id)] == .unused, let (left, right) = reverseMerges[id] {
            let leftLength = processor.vocabulary.byteLength(of: left)
            output(
                left, start: start, length: leftLength, p: p, processor: processor, into: &pieces,
                previousUnknown: &previousUnknown)
            output(
                right, start: start + leftLength, length: length - leftLength, p: p, processor: processor,
                into: &pieces, previousUnknown: &previousUnknown)
            return
        }
        if id < 0 { id = unknown }
        let isUnknown = processor.types[Int(id)] == .unknown
        if isUnknown && processor.byteFallback {
            for k in start..<(start + length) {
                pieces.append(Piece(id: processor.byteIds[Int(p[k])], start: k, length: 1))
            }
        } else if isUnknown && previousUnknown, let last = pieces.last {
            // Consecutive unknown pieces collapse into one covering both.
            pieces[pieces.count - 1].length = start + length - last.start
        } else {
            pieces.append(Piece(id: id, start: start, length: length))
        }
        previousUnknown = isUnknown
    }

    private mutating func merge(
        _ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
        processor: SentencePieceProcessor
    ) -> [(symbol: Int32, start: Int, length: Int)] {
        symbols.removeAll(keepingCapacity: true)
        queue.removeAll()
        reverseMerges.removeAll()
        let vocabulary = processor.vocabulary
        var i = range.lowerBound
        while i < range.upperBound {
            let index = Int32(symbols.count)
            if let match = processor.userDefined.longestMatch(in: p, at: i, end: range.upperBound) {
                symbols.append(
                    Symbol(
                        symbol: match.value, start: i, length: match.length, prev: index - 1,
                        next: index + 1, frozen: true))
                i += match.length
            } else {
                // sentencepiece's OneCharLen: the length the lead byte announces, clipped to the input.
                let lead = p[i]
                let announced = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                let length = min(announced, range.upperBound - i)
                let symbol = vocabulary.symbol(p, at: i, length: length)
                symbols.append(
                    Symbol(
                        symbol: symbol, start: i, length: length, prev: index - 1, next: index + 1,
                        frozen: false))
                i += length
            }
        }
        guard !symbols.isEmpty else { return [] }
        symbols[symbols.count - 1].next = -1

        for k in 1..<max(symbols.count, 1) {
            propose(Int32(k - 1), Int32(k), vocabulary: vocabulary, processor: processor)
        }

        while let top = queue.pop() {
            let left = Int(top.left), right = Int(top.right)
            // Stale candidate: one side was consumed or grew since it was proposed.
            if symbols[left].length == 0 || symbols[right].length == 0
                || symbols[left].length + symbols[right].length != Int(top.size)
            {
                continue
            }
            symbols[left].symbol = top.merged
            symbols[left].length += symbols[right].length
            symbols[left].next = symbols[right].next
            if symbols[right].next >= 0 { symbols[Int(symbols[right].next)].prev = Int32(left) }
            symbols[right].length = 0
            propose(symbols[left].prev, Int32(left), vocabulary: vocabulary, processor: processor)
            propose(Int32(left), symbols[left].next, vocabulary: vocabulary, processor: processor)
        }

        var result: [(symbol: Int32, start: Int, length: Int)] = []
        var index: Int32 = 0
        while index != -1 {
            let s = symbols[Int(index)]
            result.append((s.symbol, s.start, s.length))
            index = s.next
        }
        return result
    }

    /// `MaybeAddNewSymbolPair`: queue the pair if its concatenation is a mergeable piece.
    @inline(__always)
    private mutating func propose(
        _ left: Int32, _ right: Int32, vocabulary: SymbolVocabulary,
        processor: SentencePieceProcessor
    ) {
        guard left >= 0, right >= 0 else { return }
        let l = symbols[Int(left)], r = symbols[Int(right)]
        guard !l.frozen, !r.frozen, let merged = vocabulary.merge(l.symbol, r.symbol) else { return }
        let key = UInt64(vocabulary.scoreKeys[Int(merged)]) << 32 | UInt64(UInt32(bitPattern: left))
        queue.push(
            MergeCandidate(
                key: key, left: left, right: right, size: Int32(l.length + r.length),
                merged: merged))
        if processor.types[Int(merged)] == .unused { reverseMerges[merged] = (l.symbol, r.symbol) }
    }
}
