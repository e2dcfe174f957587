// Integer view of a SentencePiece vocabulary for the merge loop. sentencepiece looks up the concatenated bytes of
// two neighbouring symbols in its piece table; here every symbol carries an id and the pair table maps
// (left id, right id) → merged piece id, which gives the same answers without building strings:
// - a symbol is always a single character or a mergeable piece (merges only ever produce pieces);
// - characters that are not pieces themselves but occur inside one get a synthetic id ≥ pieceCount;
// - characters occurring in no piece get -1 and can never merge, exactly as their concatenations are never pieces.

struct SymbolVocabulary: Sendable {
    let pieceCount: Int
    private var asciiSymbols = [Int32](repeating: -1, count: 128)
    private var scalarSymbols: [UInt32: Int32] = [:]
    /// Byte length of every symbol id (pieces, then synthetic characters).
    private var byteLengths: [Int] = []
    private var pairs: [UInt64: Int32] = [:]
    /// Priority of each piece id for the merge queue (higher score → smaller key).
    private(set) var scoreKeys: [UInt32] = []
    /// Single-character control/unknown/byte pieces: sentencepiece's PieceToId prefers them.
    private var reservedScalars: [UInt32: Int32] = [:]
    /// Mergeable pieces whose text is also a reserved piece (PieceToId returns the reserved one).
    private var shadowed: [Int32: Int32] = [:]
    /// True when no mergeable piece has "▁" right after a character other than "▁", so no merge can join a symbol
    /// to the "▁" that starts a run: text can then be cut before each "▁" run and encoded run by run.
    private(set) var canSplitBeforeMetaspace = true

    /// `mergeable`: (piece, id) of the normal, user-defined and unused pieces; `pieces`: the whole model.
    init(pieces: [SentencePieceModel.Piece], mergeable: [(String, Int32)]) {
        pieceCount = pieces.count
        byteLengths = pieces.map { $0.piece.utf8.count }
        scoreKeys = pieces.map { MergeQueue.descendingKey(forScore: $0.score) }
        var pieceIds = ByteKeyedTable<Int32>()
        var reserved = ByteKeyedTable<Int32>()
        for (i, piece) in pieces.enumerated()
        where
            !(piece.type == .normal || piece.type == .userDefined
            || piece.type == .unused)
        {
            reserved.set(Int32(i), for: piece.piece)
            let scalars = Array(piece.piece.unicodeScalars)
            if scalars.count == 1 { reservedScalars[scalars[0].value] = Int32(i) }
        }
        for (piece, id) in mergeable {
            pieceIds.set(id, for: piece)
            if let r = reserved.value(for: piece) { shadowed[id] = r }
            let scalars = Array(piece.unicodeScalars)
            if scalars.count == 1 { setSymbol(scalars[0].value, id) }
        }
        for (piece, _) in mergeable {
            var previous: UInt32?
            for scalar in piece.unicodeScalars {
                if symbol(ofScalar: scalar.value) < 0 {
                    setSymbol(scalar.value, Int32(byteLengths.count))
                    byteLengths.append(String(scalar).utf8.count)
                }
                if scalar.value == metaspaceScalar, let p = previous, p != metaspaceScalar {
                    canSplitBeforeMetaspace = false
                }
                previous = scalar.value
            }
        }
        for (piece, id) in mergeable {
            let scalars = Array(piece.unicodeScalars)
            guard scalars.count >= 2 else { continue }
            for k in 1..<scalars.count {
                guard let left = symbolId(of: scalars[..<k], pieceIds: pieceIds),
                    let right = symbolId(of: scalars[k...], pieceIds: pieceIds)
                else { continue }
                pairs[Self.pairKey(left, right)] = id
            }
        }
    }

    private func symbolId(of scalars: ArraySlice<Unicode.Scalar>, pieceIds: ByteKeyedTable<Int32>) -> Int32? {
        if scalars.count == 1 {
            let s = symbol(ofScalar: scalars[scalars.startIndex].value)
            return s >= 0 ? s : nil
        }
        var bytes: [UInt8] = []
        for scalar in scalars { appendUTF8(scalar.value, to: &bytes) }
        return pieceIds.value(forBytes: bytes)
    }

    private mutating func setSymbol(_ scalar: UInt32, _ id: Int32) {
        if scalar < 128 { asciiSymbols[Int(scalar)] = id } else { scalarSymbols[scalar] = id }
    }

    @inline(__always)
    private func symbol(ofScalar scalar: UInt32) -> Int32 {
        scalar < 128 ? asciiSymbols[Int(scalar)] : scalarSymbols[scalar] ?? -1
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Symbol id of the character at `i` (`length` bytes).
    @inline(__always)
    func symbol(_ p: UnsafeBufferPointer<UInt8>, at i: Int, length: Int) -> Int32 {
        let lead = p[i]
        if lead < 0x80 { return asciiSymbols[Int(lead)] }
        guard let (value, decodedLength) = UTF8Validation.decode(p, at: i, end: i + length),
            decodedLength == length
        else { return -1 }
        return scalarSymbols[value] ?? -1
    }

    /// The piece produced by merging two symbols, if their concatenation is a mergeable piece.
    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> Int32? {
        guard left >= 0, right >= 0 else { return nil }
        return pairs[Self.pairKey(left, right)]
    }

    func byteLength(of symbol: Int32) -> Int { symbol >= 0 ? byteLengths[Int(symbol)] : 0 }

    /// sentencepiece's PieceToId for a final symbol: reserved pieces first, then the piece itself; characters that
    /// are not pieces map to a single-character reserved piece if there is one, else to the unknown id.
    @inline(__always)
    func outputId(
        _ symbol: Int32, p: UnsafeBufferPointer<UInt8>, start: Int, length: Int,
        unknown: Int32
    ) -> Int32 {
        if symbol >= 0 && Int(symbol) < pieceCount {
            if !shadowed.isEmpty, let r = shadowed[symbol] { return r }
            return symbol
        }
        if !reservedScalars.isEmpty, let (value, decoded) = UTF8Validation.decode(p, at: start, end: start + length),
            decoded == length, let r = reservedScalars[value]
        {
            return r
        }
        return unknown
    }
}
