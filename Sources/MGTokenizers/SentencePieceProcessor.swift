import Foundation

/// Encoding and decoding with a SentencePiece BPE model exactly as the sentencepiece library
/// (`SentencePieceProcessor::Encode` / `Decode` with bpe_model.cc): normalize, split into characters (user-defined
/// pieces greedily, longest first, and never merged), then repeatedly merge the adjacent pair whose concatenation is
/// a piece with the highest score (ties: leftmost), and finally map unknown pieces to `<0xNN>` byte pieces (byte
/// fallback) or to one merged unknown id.
public final class SentencePieceProcessor: Sendable {
    public let model: SentencePieceModel

    let normalizer: SentencePieceNormalizer
    let pieceStrings: [String]
    let types: [SentencePieceModel.PieceType]
    /// "pieces_" of sentencepiece: normal, user-defined and unused pieces.
    let normalIds: ByteKeyedTable<Int32>
    /// Control, unknown and byte pieces ("reserved_id_map_").
    let reservedIds: ByteKeyedTable<Int32>
    public let unkId: Int
    let byteFallback: Bool
    let byteIds: [Int32]
    let vocabulary: SymbolVocabulary
    let userDefined: ByteTrie
    let unkSurface: String
    /// Merging never crosses the start of a "▁" run (see SymbolVocabulary.canSplitBeforeMetaspace), so long input
    /// is encoded run by run with a cache — same result, much less work.
    let splitsAtMetaspace: Bool

    public convenience init(contentsOf url: URL) throws {
        try self.init(model: SentencePieceModel(contentsOf: url), fileName: url.path)
    }

    public init(model: SentencePieceModel, fileName: String = "tokenizer.model") throws {
        guard model.trainerSpec.modelType == .bpe else {
            throw TokenizerError.unsupported(
                file: fileName, field: "trainer_spec.model_type",
                value: "\(model.trainerSpec.modelType) (only BPE is implemented)")
        }
        if let denormalizer = model.denormalizerSpec, !denormalizer.precompiledCharsmap.isEmpty {
            throw TokenizerError.unsupported(
                file: fileName, field: "denormalizer_spec.precompiled_charsmap",
                value: "\"\(denormalizer.name)\" rules")
        }
        self.model = model
        pieceStrings = model.pieces.map(\.piece)
        types = model.pieces.map(\.type)
        var normal = ByteKeyedTable<Int32>(), reserved = ByteKeyedTable<Int32>()
        var trie = ByteTrie()
        var unk: Int32 = 0
        var bytes = [Int32](repeating: -1, count: 256)
        for (i, piece) in model.pieces.enumerated() {
            switch piece.type {
            case .normal, .unused: normal.set(Int32(i), for: piece.piece)
            case .userDefined:
                normal.set(Int32(i), for: piece.piece)
                trie.insert(piece.piece.utf8, value: Int32(i))
            case .unknown:
                reserved.set(Int32(i), for: piece.piece)
                unk = Int32(i)
            case .control: reserved.set(Int32(i), for: piece.piece)
            case .byte:
                reserved.set(Int32(i), for: piece.piece)
                if let b = SentencePieceModel.byteValue(ofPiece: piece.piece) { bytes[Int(b)] = Int32(i) }
            }
        }
        normalIds = normal
        reservedIds = reserved
        unkId = Int(unk)
        byteFallback = model.trainerSpec.byteFallback
        byteIds = bytes
        userDefined = trie
        unkSurface = model.trainerSpec.unkSurface
        let hasUnusedPieces = model.pieces.contains { $0.type == .unused }
        normalizer = try SentencePieceNormalizer(
            spec: model.normalizerSpec,
            treatWhitespaceAsSuffix: model.trainerSpec.treatWhitespaceAsSuffix,
            userDefined: trie, fileName: fileName)
        var mergeable: [(String, Int32)] = []
        for (i, piece) in model.pieces.enumerated()
        where piece.type == .normal || piece.type == .userDefined
            || piece.type == .unused
        {
            mergeable.append((piece.piece, Int32(i)))
        }
        vocabulary = SymbolVocabulary(pieces: model.pieces, mergeable: mergeable)
        // Unused pieces are resegmented through a table that sentencepiece keeps for the whole input; keep the
        // whole input together then.
        splitsAtMetaspace =
            !hasUnusedPieces && vocabulary.canSplitBeforeMetaspace
            && normal.value(forBytes: metaspaceBytes) != nil
    }

    // MARK: - Vocabulary

    public var pieceCount: Int { pieceStrings.count }

    /// sentencepiece's PieceToId: reserved pieces first, then normal ones, else the unknown id.
    public func pieceToId(_ piece: String) -> Int {
        if let id = reservedIds.value(for: piece) { return Int(id) }
        if let id = normalIds.value(for: piece) { return Int(id) }
        return unkId
    }

    public func idToPiece(_ id: Int) -> String? {
        pieceStrings.indices.contains(id) ? pieceStrings[id] : nil
    }

    /// bos/eos/pad ids as sentencepiece reports them: the id of the configured piece if it is a control piece, else -1.
    public var bosId: Int { controlId(model.trainerSpec.bosPiece) }
    public var eosId: Int { controlId(model.trainerSpec.eosPiece) }
    public var padId: Int { controlId(model.trainerSpec.padPiece) }

    private func controlId(_ piece: String) -> Int {
        let id = pieceToId(piece)
        return types[id] == .control ? id : -1
    }

    // MARK: - Encode

    /// The normalized text (spaces as "▁", dummy prefix), as sentencepiece's `Normalize`.
    public func normalize(_ text: String) -> String {
        String(decoding: normalizer.normalize(Array(text.utf8)), as: UTF8.self)
    }

    public func encode(_ text: String) -> [Int] {
        var ids: [Int32] = []
        encode(Array(text.utf8), into: &ids)
        return ids.map { Int($0) }
    }

    /// Piece strings of `encode`; a run of unknown characters (no byte fallback) shows its text, as in sentencepiece.
    public func encodeAsPieces(_ text: String) -> [String] {
        let normalized = normalizer.normalize(Array(text.utf8))
        return normalized.withUnsafeBufferPointer { p in
            var merger = SentencePieceMerger()
            return merger.encode(p, 0..<p.count, processor: self).map { piece in
                if types[Int(piece.id)] == .byte, piece.length == 1 {
                    return SentencePieceModel.bytePiece(p[piece.start])
                }
                return String(
                    decoding: UnsafeBufferPointer(rebasing: p[piece.start..<(piece.start + piece.length)]),
                    as: UTF8.self)
            }
        }
    }

    func encode(_ text: [UInt8], into ids: inout [Int32]) {
        let normalized = normalizer.normalize(text)
        normalized.withUnsafeBufferPointer { p in
            var merger = SentencePieceMerger()
            if !splitsAtMetaspace {
                ids.append(contentsOf: merger.encode(p, 0..<p.count, processor: self).map(\.id))
                return
            }
            var cache = ByteKeyedTable<[Int32]>()
            forEachMetaspaceRun(p, 0..<p.count) { range in
                // Short runs repeat (words); long ones are rare and not worth keeping.
                guard range.count <= 256 else {
                    ids.append(contentsOf: merger.encode(p, range, processor: self).map(\.id))
                    return
                }
                let key = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[range])
                if let cached = cache.value(for: key) {
                    ids.append(contentsOf: cached)
                } else {
                    let spanIds = merger.encode(p, range, processor: self).map(\.id)
                    cache.set(spanIds, for: key)
                    ids.append(contentsOf: spanIds)
                }
            }
        }
    }

    // MARK: - Decode

    /// sentencepiece's `DecodeIds`: control pieces vanish, the unknown piece prints as `unk_surface` (" ⁇ "), runs of
    /// byte pieces are reassembled into UTF-8 (each invalid byte → U+FFFD), "▁" becomes a space, and the leading
    /// "▁" of the first piece (the dummy prefix) is dropped.
    public func decode(_ ids: [Int]) throws -> String {
        for id in ids where !pieceStrings.indices.contains(id) {
            throw TokenizerError.idOutOfRange(id: id, vocabularySize: pieceStrings.count)
        }
        let stripsLeadingSpace = model.normalizerSpec.addDummyPrefix || model.normalizerSpec.removeExtraWhitespaces
        var text: [UInt8] = []
        var pendingBytes: [UInt8] = []
        var isBeginningOfText = true
        var sawLeadingSpace = false
        for id in ids {
            if types[id] == .byte {
                if let b = SentencePieceModel.byteValue(ofPiece: pieceStrings[id]) { pendingBytes.append(b) }
                continue
            }
            Self.appendDecodedBytes(&pendingBytes, to: &text)
            if sawLeadingSpace || !text.isEmpty { isBeginningOfText = false }
            sawLeadingSpace = false
            switch types[id] {
            case .control: continue
            case .unknown:
                text.append(contentsOf: unkSurface.utf8)
                continue
            default: break
            }
            var piece = Array(pieceStrings[id].utf8)
            if isBeginningOfText && stripsLeadingSpace && piece.starts(with: metaspaceBytes) {
                piece.removeFirst(3)
                // With remove_extra_whitespaces every leading "▁" goes, so keep looking.
                sawLeadingSpace = !model.normalizerSpec.removeExtraWhitespaces
            }
            Self.appendReplacingMetaspace(piece, to: &text)
        }
        Self.appendDecodedBytes(&pendingBytes, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Byte pieces → text: valid UTF-8 sequences are kept, every byte that does not start one becomes U+FFFD.
    private static func appendDecodedBytes(_ bytes: inout [UInt8], to text: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                if let (_, length) = UTF8Validation.decode(p, at: i, end: p.count) {
                    text.append(contentsOf: p[i..<(i + length)])
                    i += length
                } else {
                    text.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    i += 1
                }
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }

    private static func appendReplacingMetaspace(_ piece: [UInt8], to text: inout [UInt8]) {
        var i = 0
        while i < piece.count {
            if i + 2 < piece.count && piece[i] == 0xE2 && piece[i + 1] == 0x96 && piece[i + 2] == 0x81 {
                text.append(0x20)
                i += 3
            } else {
                text.append(piece[i])
                i += 1
            }
        }
    }
}
