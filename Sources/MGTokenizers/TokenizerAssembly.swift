import Foundation

/// Everything a `Tokenizer` runs, assembled from a model directory the way transformers' AutoTokenizer does it:
/// the pipeline from tokenizer.json (or converted from tokenizer.model), then the tokens and settings of
/// tokenizer_config.json, special_tokens_map.json and added_tokens.json on top. A CLIPTokenizer folder without
/// tokenizer.json is converted from vocab.json and merges.txt.
struct TokenizerAssembly {
    var addedVocabulary = AddedVocabulary()
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var model: BPEModel
    var decoder: Decoder?
    var postProcessor: PostProcessor
    var config: TokenizerConfig

    init(directory: URL) throws {
        let fm = FileManager.default
        config = try TokenizerConfig(directory: directory)
        let jsonURL = directory.appendingPathComponent("tokenizer.json")
        let modelURL = directory.appendingPathComponent("tokenizer.model")
        let vocabURL = directory.appendingPathComponent("vocab.json")
        let mergesURL = directory.appendingPathComponent("merges.txt")
        let isCLIP = CLIPConversion.isCLIP(config.tokenizerClass)
        if isCLIP { config.applyCLIPDefaults() }
        var fromSentencePiece = false
        var fromCLIPFiles = false
        if fm.fileExists(atPath: jsonURL.path) {
            let json = try TokenizerJSON(url: jsonURL)
            model = json.model
            normalizer = json.normalizer
            preTokenizer = json.preTokenizer
            decoder = json.decoder
            postProcessor = json.postProcessor
            for token in json.addedTokens {
                var token = token
                // As in HF: a token that is already in the model vocabulary keeps the model's id.
                if let id = json.model.id(forToken: token.content) { token.id = Int(id) }
                addedVocabulary.add(token)
            }
        } else if isCLIP && fm.fileExists(atPath: vocabURL.path) && fm.fileExists(atPath: mergesURL.path) {
            let converted = try CLIPConversion(
                vocabURL: vocabURL, mergesURL: mergesURL,
                unknownToken: config.unk?.content ?? CLIPConversion.defaultEos)
            model = converted.model
            normalizer = converted.normalizer
            preTokenizer = converted.preTokenizer
            decoder = converted.decoder
            postProcessor = .none
            fromCLIPFiles = true
        } else if fm.fileExists(atPath: modelURL.path) {
            let sp = try SentencePieceModel(contentsOf: modelURL)
            let converted = try SentencePieceConversion(
                model: sp, legacy: config.legacy ?? true,
                addPrefixSpace: config.addPrefixSpace, file: modelURL.path)
            model = converted.model
            normalizer = converted.normalizer
            preTokenizer = converted.preTokenizer
            decoder = converted.decoder
            postProcessor = .none
            for token in converted.addedTokens { addedVocabulary.add(token) }
            fromSentencePiece = true
        } else {
            throw TokenizerError.noTokenizerFiles(directory: directory.path)
        }
        finish(fromSentencePiece: fromSentencePiece, fromCLIPFiles: fromCLIPFiles)
    }

    /// A converted SentencePiece model with the settings of `config` (a GGUF file's `tokenizer.ggml.*` vocabulary
    /// arrives this way, with no files at all).
    init(sentencePiece sp: SentencePieceModel, config: TokenizerConfig, file: String) throws {
        self.config = config
        let converted = try SentencePieceConversion(
            model: sp, legacy: config.legacy ?? true, addPrefixSpace: config.addPrefixSpace, file: file)
        model = converted.model
        normalizer = converted.normalizer
        preTokenizer = converted.preTokenizer
        decoder = converted.decoder
        postProcessor = .none
        for token in converted.addedTokens { addedVocabulary.add(token) }
        finish(fromSentencePiece: true, fromCLIPFiles: false)
    }

    /// The steps after the pipeline: config tokens registered, matchers built, BOS/EOS templates set.
    private mutating func finish(fromSentencePiece: Bool, fromCLIPFiles: Bool) {
        registerConfigTokens()
        addedVocabulary.buildMatchers(normalizer: normalizer)

        // CLIPConverter's RobertaProcessing: bos before, eos after, with the slow tokenizer's ids.
        if fromCLIPFiles {
            postProcessor = PostProcessor(
                prefix: id(of: config.bos?.content).map { [Int32($0)] } ?? [],
                suffix: id(of: config.eos?.content).map { [Int32($0)] } ?? [])
        }

        // LlamaTokenizer's add_bos_token / add_eos_token set the template when the config has them, and always for
        // a converted tokenizer.model (LlamaTokenizer defaults: BOS yes, EOS no).
        if fromSentencePiece || config.addBosToken != nil || config.addEosToken != nil {
            let bos = (config.addBosToken ?? fromSentencePiece) ? id(of: config.bos?.content) : nil
            let eos = (config.addEosToken ?? false) ? id(of: config.eos?.content) : nil
            postProcessor = PostProcessor(prefix: bos.map { [Int32($0)] } ?? [], suffix: eos.map { [Int32($0)] } ?? [])
        }
    }

    /// Id of a token text: added tokens first, then the model vocabulary.
    func id(of content: String?) -> Int? {
        guard let content else { return nil }
        if let index = addedVocabulary.index(ofContent: content) { return addedVocabulary.tokens[index].id }
        return model.id(forToken: content).map(Int.init)
    }

    /// tokenizer_config.json's added_tokens_decoder and added_tokens.json add tokens that are not there yet; the
    /// bos/eos/unk/pad/additional special tokens become special, and ones missing from the vocabulary get new ids
    /// after the last one, as transformers does.
    private mutating func registerConfigTokens() {
        var nextId = max(model.maxTokenId, addedVocabulary.tokens.map(\.id).max() ?? -1) + 1
        for token in config.addedTokensDecoder where addedVocabulary.index(ofContent: token.content) == nil {
            addedVocabulary.add(token)
            nextId = max(nextId, token.id + 1)
        }
        let specialContents = Set(config.specialTokens.map { Array($0.content.utf8) })
        for (content, id) in config.addedTokensFile where addedVocabulary.index(ofContent: content) == nil {
            let resolved = self.id(of: content) ?? id
            addedVocabulary.add(
                AddedToken(
                    content: content, id: resolved,
                    special: specialContents.contains(Array(content.utf8))))
            nextId = max(nextId, resolved + 1)
        }
        for special in config.specialTokens {
            var token: AddedToken
            if let index = addedVocabulary.index(ofContent: special.content) {
                token = addedVocabulary.tokens[index]
            } else {
                token = special.token ?? AddedToken(content: special.content, id: -1)
                if let id = id(of: special.content) {
                    token.id = id
                } else {
                    guard nextId < Int(Int32.max) else { continue }  // no id left to give
                    token.id = nextId
                    nextId += 1
                }
            }
            token.special = true
            addedVocabulary.add(token)
        }
    }

    /// Distinct ids of the model vocabulary and the added tokens (`len(tokenizer)`).
    var vocabularySize: Int {
        var ids = Set<Int>()
        for id in 0...max(model.maxTokenId, 0) where model.token(forId: id) != nil { ids.insert(id) }
        for token in addedVocabulary.tokens { ids.insert(token.id) }
        return ids.count
    }
}
