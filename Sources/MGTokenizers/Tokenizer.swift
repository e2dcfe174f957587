import Foundation

/// A Hugging Face–compatible tokenizer: what `AutoTokenizer.from_pretrained(directory)` gives, for BPE models
/// (Llama-2/Vicuna SentencePiece, Phi-3, Llama-3 byte-level, CLIP as OWLv2 ships it). Encoding runs added-token splitting, normalizer,
/// pre-tokenizer, BPE and post-processor exactly as HF tokenizers; decoding runs the decoder chain.
///
/// Immutable after loading, so one instance can be shared across threads (`@unchecked` only because the optional
/// NSRegularExpression fallback for unknown split patterns is not marked Sendable; matching with it is thread-safe).
public final class Tokenizer: @unchecked Sendable {
    private let addedVocabulary: AddedVocabulary
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let model: BPEModel
    private let decoder: Decoder?
    private let postProcessor: PostProcessor
    /// CLIPTokenizer(Fast) decodes through its own last step: the end-of-word suffix becomes a space and the text
    /// is stripped (`_wrap_decode_method_backend_tokenizer`); nil for other tokenizers.
    private let clipDecodeSuffix: [UInt8]?

    public let bosToken: String?
    public let eosToken: String?
    public let unkToken: String?
    public let padToken: String?
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let unkTokenId: Int?
    public let padTokenId: Int?
    /// Number of distinct token ids (model vocabulary plus added tokens), like `len(tokenizer)`.
    public let vocabSize: Int
    /// `tokenizer_config.json` "tokenizer_class", if any.
    public let tokenizerClass: String?
    /// `tokenizer_config.json` "model_max_length" (16 for OWLv2's CLIP text encoder); nil when absent or "no limit".
    public let modelMaxLength: Int?
    /// `tokenizer_config.json` "clean_up_tokenization_spaces", true when absent as in transformers 4.x: pass it to
    /// `decode(_:skipSpecialTokens:cleanUpTokenizationSpaces:)` to get what transformers' `decode` returns.
    public let cleanUpTokenizationSpaces: Bool

    /// Loads from a model directory: tokenizer.json if present, else tokenizer.model (converted as transformers
    /// converts LlamaTokenizer), plus tokenizer_config.json, special_tokens_map.json and added_tokens.json.
    public static func load(directory: URL) throws -> Tokenizer {
        try Tokenizer(assembly: TokenizerAssembly(directory: directory))
    }

    /// A SentencePiece BPE vocabulary given as arrays (what a llama.cpp GGUF file's `tokenizer.ggml.*` metadata
    /// holds for `tokenizer.ggml.model` "llama"): pieces as UTF-8 bytes, scores, sentencepiece piece types (1 normal,
    /// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), the special token ids, and the BOS/EOS and
    /// space-prefix settings. Built as transformers converts the equivalent `tokenizer.model` with `legacy` true,
    /// which is also how llama.cpp tokenizes: a "▁" before the text and after every special token.
    public static func sentencePiece(
        pieces: [[UInt8]], scores: [Float], types: [Int32], unknownId: Int?, bosId: Int?, eosId: Int?, padId: Int?,
        addBos: Bool, addEos: Bool, addSpacePrefix: Bool, file: String
    ) throws -> Tokenizer {
        guard scores.count == pieces.count, types.count == pieces.count else {
            throw TokenizerError.invalidField(
                file: file, field: "tokenizer.ggml.scores/token_type",
                reason: "\(scores.count) scores and \(types.count) types for \(pieces.count) tokens")
        }
        var list: [SentencePieceModel.Piece] = []
        list.reserveCapacity(pieces.count)
        for (i, bytes) in pieces.enumerated() {
            guard let type = SentencePieceModel.PieceType(rawValue: types[i]) else {
                throw TokenizerError.invalidField(
                    file: file, field: "tokenizer.ggml.token_type", reason: "token \(i) has type \(types[i])")
            }
            // A piece's bytes must survive as they are: invalid UTF-8 would be silently repaired by String.
            guard let piece = String(bytes: bytes, encoding: .utf8) else {
                throw TokenizerError.invalidField(
                    file: file, field: "tokenizer.ggml.tokens", reason: "token \(i) is not UTF-8: \(bytes)")
            }
            list.append(.init(piece: piece, score: scores[i], type: type))
        }
        func piece(_ id: Int?, _ field: String) throws -> String? {
            guard let id else { return nil }
            guard id >= 0 && id < list.count else {
                throw TokenizerError.invalidField(
                    file: file, field: field, reason: "id \(id) is outside the \(list.count) tokens")
            }
            return list[id].piece
        }
        var trainer = SentencePieceModel.TrainerSpec()
        trainer.modelType = .bpe
        trainer.vocabSize = Int32(clamping: list.count)
        trainer.byteFallback = list.contains { $0.type == .byte }
        let unk = try piece(unknownId ?? list.firstIndex { $0.type == .unknown }, "tokenizer.ggml.unknown_token_id")
        let bos = try piece(bosId, "tokenizer.ggml.bos_token_id"), eos = try piece(eosId, "tokenizer.ggml.eos_token_id")
        let pad = try piece(padId, "tokenizer.ggml.padding_token_id")
        (trainer.unkId, trainer.bosId, trainer.eosId, trainer.padId) = (
            Int32(unknownId ?? -1), Int32(bosId ?? -1), Int32(eosId ?? -1), Int32(padId ?? -1)
        )
        if let unk { trainer.unkPiece = unk }
        if let bos { trainer.bosPiece = bos }
        if let eos { trainer.eosPiece = eos }
        if let pad { trainer.padPiece = pad }
        let named = Set([unk, bos, eos, pad].compactMap { $0.map { Array($0.utf8) } })
        trainer.controlSymbols = list.filter { $0.type == .control && !named.contains(Array($0.piece.utf8)) }.map(
            \.piece)
        trainer.userDefinedSymbols = list.filter { $0.type == .userDefined }.map(\.piece)
        var normalizer = SentencePieceModel.NormalizerSpec()
        normalizer.addDummyPrefix = addSpacePrefix
        let model = try SentencePieceModel(
            pieces: list, trainerSpec: trainer, normalizerSpec: normalizer, fileName: file)
        var config = TokenizerConfig()
        config.addBosToken = addBos
        config.addEosToken = addEos
        config.legacy = true
        config.bos = bos.map { .init(content: $0, token: nil) }
        config.eos = eos.map { .init(content: $0, token: nil) }
        config.unk = unk.map { .init(content: $0, token: nil) }
        config.pad = pad.map { .init(content: $0, token: nil) }
        return try Tokenizer(assembly: TokenizerAssembly(sentencePiece: model, config: config, file: file))
    }

    private init(assembly: TokenizerAssembly) throws {
        addedVocabulary = assembly.addedVocabulary
        normalizer = assembly.normalizer
        preTokenizer = assembly.preTokenizer
        model = assembly.model
        decoder = assembly.decoder
        postProcessor = assembly.postProcessor
        let config = assembly.config
        bosToken = config.bos?.content
        eosToken = config.eos?.content
        unkToken = config.unk?.content
        padToken = config.pad?.content
        bosTokenId = assembly.id(of: bosToken)
        eosTokenId = assembly.id(of: eosToken)
        unkTokenId = assembly.id(of: unkToken)
        padTokenId = assembly.id(of: padToken)
        vocabSize = assembly.vocabularySize
        tokenizerClass = config.tokenizerClass
        modelMaxLength = config.modelMaxLength
        cleanUpTokenizationSpaces = config.cleanUpTokenizationSpaces ?? true
        let suffix = assembly.model.endOfWordSuffix
        clipDecodeSuffix = CLIPConversion.isCLIP(config.tokenizerClass) && !suffix.isEmpty ? suffix : nil
    }

    // MARK: - Vocabulary

    /// Added tokens (special or not), in the order they were registered.
    public var addedTokens: [AddedToken] { addedVocabulary.tokens }

    /// Id of a token string: added tokens first, then the model vocabulary (exact text, no normalization).
    public func id(for token: String) -> Int? {
        if let index = addedVocabulary.index(ofContent: token) { return addedVocabulary.tokens[index].id }
        return model.id(forToken: token).map(Int.init)
    }

    /// Token string of an id (added tokens first), nil outside the vocabulary. As in HF, an added token with
    /// normalized=true reads as its normalized form.
    public func token(for id: Int) -> String? {
        addedVocabulary.text(forId: id) ?? model.token(forId: id)
    }

    /// Whether `id` is a special added token (skipped by `decode(…, skipSpecialTokens: true)`).
    public func isSpecial(_ id: Int) -> Bool {
        guard let token = token(for: id) else { return false }
        return addedVocabulary.isSpecial(content: token)
    }

    /// Whether `id` is a byte-fallback token (`<0xNN>`) that the decoder joins with the byte tokens around it: a
    /// run of them is one piece of text (one U+FFFD per byte when the run is not valid UTF-8), so text streamed
    /// token by token is final only once the run has ended.
    public func isByteFallbackToken(_ id: Int) -> Bool {
        guard decoder?.hasByteFallback == true, let token = token(for: id) else { return false }
        return Decoder.byteValue(token) != nil
    }

    // MARK: - Encode

    /// HF `encode(text, add_special_tokens=…)`: added tokens written in the text are recognised (with their
    /// lstrip/rstrip/single_word rules); `addSpecialTokens` adds the post-processor's tokens (BOS for these models).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        encodeIds(text, addSpecialTokens: addSpecialTokens).map { Int($0) }
    }

    /// Token strings of `encode` (HF `convert_ids_to_tokens(encode(text))`).
    public func tokens(_ text: String, addSpecialTokens: Bool = false) -> [String] {
        encodeIds(text, addSpecialTokens: addSpecialTokens).map { token(for: Int($0)) ?? "" }
    }

    func encodeIds(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        var text = text
        var ids: [Int32] = []
        text.withUTF8 { raw in
            ids.reserveCapacity(raw.count / 3)
            var scratch = BPEScratch()
            var segments: [Segment] = []
            addedVocabulary.split(raw, 0..<raw.count, normalized: false, into: &segments)
            for segment in segments {
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    encodeText(raw, range, scratch: &scratch, into: &ids)
                }
            }
        }
        return postProcessor.apply(ids, addSpecialTokens: addSpecialTokens)
    }

    /// The post-processor's special tokens around `ids` (what `encode` adds with `addSpecialTokens`).
    func withSpecialTokens(_ ids: [Int32]) -> [Int32] { postProcessor.apply(ids, addSpecialTokens: true) }

    /// One stretch of raw text between added tokens: normalize, match normalized added tokens, pre-tokenize, BPE.
    private func encodeText(
        _ raw: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scratch: inout BPEScratch,
        into ids: inout [Int32]
    ) {
        let slice = Array(UnsafeBufferPointer(rebasing: raw[range]))
        let normalized = normalizer?.apply(slice) ?? slice
        var pieces: [Segment] = []
        if addedVocabulary.hasNormalizedTokens {
            normalized.withUnsafeBufferPointer { p in
                addedVocabulary.split(p, 0..<p.count, normalized: true, into: &pieces)
            }
        } else if !normalized.isEmpty {
            pieces = [.text(0..<normalized.count)]
        }
        for piece in pieces {
            switch piece {
            case .token(let id):
                ids.append(id)
            case .text(let sub):
                var text = PreTokenizedText(
                    buffer: normalized, pieces: [sub],
                    startsInput: range.lowerBound == 0 && sub.lowerBound == 0)
                preTokenizer?.apply(&text)
                text.buffer.withUnsafeBufferPointer { p in
                    for word in text.pieces {
                        model.encodeWord(p, word, byteLevel: text.byteLevel, scratch: &scratch, into: &ids)
                    }
                }
            }
        }
    }

    // MARK: - Decode

    /// HF decode: ids → token strings (unknown ids are dropped, special tokens too when asked), then the decoder;
    /// for a CLIP tokenizer the "</w>" suffix then becomes a space and the ends are stripped, as CLIPTokenizerFast
    /// does. `cleanUpTokenizationSpaces` adds transformers' `clean_up_tokenization` (" ." → "." and the like); the
    /// default leaves the text as the tokenizers library returns it.
    public func decode(
        _ ids: [Int], skipSpecialTokens: Bool = false, cleanUpTokenizationSpaces: Bool = false
    )
        -> String
    {
        var text = backendDecode(ids, skipSpecialTokens: skipSpecialTokens)
        if let suffix = clipDecodeSuffix {
            text = PythonText.strip(
                String(decoding: Normalizer.replaceAll(Array(text.utf8), suffix, [0x20]), as: UTF8.self))
        }
        return cleanUpTokenizationSpaces ? PythonText.cleanUpTokenization(text) : text
    }

    private func backendDecode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = token(for: id) else { continue }
            if skipSpecialTokens && addedVocabulary.isSpecial(content: token) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }
}
