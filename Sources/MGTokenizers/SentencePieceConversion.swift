/// What transformers builds from a `tokenizer.model` when there is no tokenizer.json (LlamaTokenizer converted to
/// a tokenizers pipeline): a BPE model whose merges are generated from the pieces, byte fallback, and
/// - legacy=false: no normalizer, pre-tokenizer Metaspace(prepend_scheme "first", split false) — text that already
///   starts with a space gets no extra "▁", and text right after a special token gets none either;
/// - legacy=true (the default when the config does not say): normalizer Prepend("▁") + Replace(" ", "▁"), so every
///   piece of text between special tokens gets a leading "▁".
/// The decoder is Replace("▁", " "), ByteFallback, Fuse, then Strip one leading space.
struct SentencePieceConversion {
    var addedTokens: [AddedToken]
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var model: BPEModel
    var decoder: Decoder

    init(model sp: SentencePieceModel, legacy: Bool, addPrefixSpace: Bool?, file: String) throws {
        guard sp.trainerSpec.modelType == .bpe else {
            throw TokenizerError.unsupported(
                file: file, field: "trainer_spec.model_type",
                value: "\(sp.trainerSpec.modelType) (only BPE is implemented)")
        }
        guard sp.normalizerSpec.precompiledCharsmap.isEmpty else {
            throw TokenizerError.unsupported(
                file: file, field: "normalizer_spec.precompiled_charsmap",
                value: "\"\(sp.normalizerSpec.name)\" rules; only identity normalization is implemented")
        }
        let prefixSpace = addPrefixSpace ?? sp.normalizerSpec.addDummyPrefix
        let vocab = sp.pieces.enumerated().map { ($0.element.piece, $0.offset) }
        model = try BPEModel(
            vocabulary: vocab, merges: Self.merges(sp.pieces), unknownToken: Self.unknownPiece(sp),
            fuseUnknown: true, byteFallback: sp.trainerSpec.byteFallback, ignoreMerges: false,
            file: file, field: "pieces")
        let space = Array(" ".utf8), metaspace = metaspaceBytes
        if legacy {
            normalizer = .sequence(
                (prefixSpace ? [.prepend(metaspace)] : []) + [.replace(pattern: space, content: metaspace)])
            preTokenizer = nil
        } else {
            normalizer = nil
            preTokenizer = .metaspace(
                replacement: metaspace, prependScheme: prefixSpace ? .first : .never, split: false)
        }
        decoder = .sequence(
            [.replace(pattern: "\u{2581}", content: " "), .byteFallback, .fuse]
                + (prefixSpace ? [.strip(content: " ", start: 1, stop: 0)] : []))

        // The converter registers unk/bos/eos and the trainer's control symbols as special tokens and the
        // user-defined symbols as plain added tokens, all matched on the raw text.
        var tokens: [AddedToken] = []
        var ids = ByteKeyedTable<Int>()
        for (id, piece) in sp.pieces.enumerated() { ids.set(id, for: piece.piece) }
        for content in [sp.trainerSpec.unkPiece, sp.trainerSpec.bosPiece, sp.trainerSpec.eosPiece]
            + sp.trainerSpec.controlSymbols
        {
            if let id = ids.value(for: content) { tokens.append(AddedToken(content: content, id: id, special: true)) }
        }
        for content in sp.trainerSpec.userDefinedSymbols {
            if let id = ids.value(for: content) { tokens.append(AddedToken(content: content, id: id)) }
        }
        addedTokens = tokens
    }

    private static func unknownPiece(_ sp: SentencePieceModel) -> String? {
        sp.pieces.first { $0.type == .unknown }?.piece
    }

    /// transformers' `generate_merges`: for every piece (in id order), each split into two parts that are both
    /// pieces, ordered by piece id and then by the length of the left part.
    static func merges(_ pieces: [SentencePieceModel.Piece]) -> [(String, String)] {
        var known = ByteKeyedTable<Int>()
        for (id, piece) in pieces.enumerated() where known.value(for: piece.piece) == nil {
            known.set(id, for: piece.piece)
        }
        var merges: [(String, String)] = []
        for piece in pieces {
            let scalars = Array(piece.piece.unicodeScalars)
            guard scalars.count >= 2 else { continue }
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                right.append(contentsOf: scalars[k...])
                let l = String(left), r = String(right)
                if known.value(for: l) != nil && known.value(for: r) != nil { merges.append((l, r)) }
            }
        }
        return merges
    }
}
