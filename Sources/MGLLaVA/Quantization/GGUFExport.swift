import Foundation
import MGCheckpoint
import MGLLM
import MGTokenizers

/// Writes an HF LLM folder (plus, optionally, the LLM weights an MG-LLaVA stage-2 checkpoint carries) as a llama.cpp
/// GGUF file: llama.cpp's tensor names and `{arch}.*` metadata, the SentencePiece vocabulary as `tokenizer.ggml.*`
/// (as `convert_hf_to_gguf.py` writes it), LLaMA q/k rows in llama.cpp's RoPE order, and each weight quantized as
/// `llama-quantize` would for the chosen type (ggml's reference quantizers, bit for bit).
public struct GGUFExport {
    /// One written tensor: its GGUF name, type, and whether its rows forced a fallback type.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var type: GGMLType
        public var fallback: Bool
    }

    public let configuration: LLMConfiguration
    /// The tensors in file order, with their types.
    public let tensors: [Tensor]
    /// `llm.*` tensors taken from the MG-LLaVA checkpoint instead of the folder.
    public let fromCheckpoint: Int

    /// Quantizes `llm` (an HF folder) to `out`. `pth`: an MG-LLaVA checkpoint whose `llm.*` tensors replace the
    /// folder's (stage 2 trains the LLM). `progress` hears each tensor as it is written.
    @discardableResult
    public static func write(
        llm: URL, pth: URL? = nil, type: GGUFQuantizationType, to out: URL,
        progress: (Tensor, Int, Int) -> Void = { _, _, _ in }
    ) throws -> GGUFExport {
        let configURL = llm.appendingPathComponent("config.json")
        let config = try LLMConfiguration.load(configURL)
        let folder = try Checkpoint.open(llm)
        var sources: [String: (any TensorSource, String)] = [:]
        for key in folder.keys where !CausalLM.isIgnoredKey(key) { sources[key] = (folder, key) }
        var fromCheckpoint = 0
        if let pth {
            let checkpoint = try Checkpoint.open(pth)
            for key in checkpoint.keys where key.hasPrefix("llm.") {
                let hfKey = String(key.dropFirst(4))
                if CausalLM.isIgnoredKey(hfKey) { continue }
                guard sources[hfKey] != nil else {
                    throw MGLLaVALoadError(
                        source: pth.path, reason: "'\(key)' has no counterpart '\(hfKey)' in \(llm.path)")
                }
                sources[hfKey] = (checkpoint, key)
                fromCheckpoint += 1
            }
        }
        let family = config.family
        var plan: [Planned] = []
        for key in orderedKeys(Array(sources.keys), layers: config.numHiddenLayers) {
            guard let name = GGUFTensorNames.gguf(forHF: key, family: family), let (source, sourceKey) = sources[key]
            else {
                throw MGLLaVALoadError(source: llm.path, reason: "no llama.cpp name for '\(key)'")
            }
            let shape = try source.info(for: sourceKey).shape
            let choice = try type.type(
                forGGUF: name, shape: shape, layers: config.numHiddenLayers,
                tiedEmbeddings: config.tieWordEmbeddings)
            guard let dtype = choice.type.dtype else {
                throw MGLLaVALoadError(source: llm.path, reason: "'\(key)': no writer for \(choice.type.name)")
            }
            plan.append(
                Planned(
                    hf: key, source: source, sourceKey: sourceKey,
                    entry: GGUFWriter.Entry(name: name, shape: shape, type: choice.type), dtype: dtype,
                    fallback: choice.fallback))
        }
        let metadata = try self.metadata(llm: llm, config: config, type: type)
        let written = plan.map { Tensor(name: $0.entry.name, type: $0.entry.type, fallback: $0.fallback) }
        try GGUFWriter.write(to: out, metadata: metadata, entries: plan.map(\.entry)) { i in
            var value = try plan[i].source.tensor(plan[i].sourceKey).float()
            if GGUFTensorNames.isRopePermuted(plan[i].hf, family: family) {
                value = try GGUFLLM.reorderRows(
                    value, headDim: config.headDim, toGGUF: true, name: plan[i].entry.name, path: llm.path)
            }
            let dtype = plan[i].dtype
            progress(written[i], i, plan.count)
            return dtype == .float32 ? value : value.converted(to: dtype)
        }
        return GGUFExport(configuration: config, tensors: written, fromCheckpoint: fromCheckpoint)
    }

    /// One tensor to write: where it comes from, what it becomes.
    private struct Planned {
        var hf: String
        var source: any TensorSource
        var sourceKey: String
        var entry: GGUFWriter.Entry
        var dtype: DType
        var fallback: Bool
    }

    /// Embeddings, then each layer's tensors, then the final norm and the output matrix.
    static func orderedKeys(_ keys: [String], layers: Int) -> [String] {
        func rank(_ key: String) -> (Int, String) {
            if key.hasPrefix("model.embed_tokens") { return (-1, key) }
            if key.hasPrefix("model.layers.") {
                let n = Int(key.split(separator: ".")[2]) ?? layers
                return (n, key)
            }
            return (layers + (key.hasPrefix("lm_head") ? 1 : 0), key)
        }
        return keys.sorted { rank($0) < rank($1) }
    }

    /// The metadata `convert_hf_to_gguf.py` writes for a LLaMA-family or Phi-3 model, and llama-quantize's
    /// `general.file_type` and `general.quantization_version`.
    static func metadata(
        llm: URL, config: LLMConfiguration, type: GGUFQuantizationType
    ) throws -> [(key: String, value: GGUFValue)] {
        let arch = config.family.rawValue
        func text(_ s: String) -> GGUFValue { .string(Array(s.utf8)) }
        func u32(_ n: Int) -> GGUFValue { .uint32(UInt32(clamping: n)) }
        var m: [(key: String, value: GGUFValue)] = [
            ("general.architecture", text(arch)), ("general.type", text("model")),
            ("general.name", text(llm.lastPathComponent)),
            ("\(arch).block_count", u32(config.numHiddenLayers)),
            ("\(arch).context_length", u32(config.maxPositionEmbeddings)),
            ("\(arch).embedding_length", u32(config.hiddenSize)),
            ("\(arch).feed_forward_length", u32(config.intermediateSize)),
            ("\(arch).attention.head_count", u32(config.numAttentionHeads)),
            ("\(arch).attention.head_count_kv", u32(config.numKeyValueHeads)),
            ("\(arch).rope.freq_base", .float32(Float(config.ropeTheta))),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(Float(config.rmsNormEps))),
            ("\(arch).attention.key_length", u32(config.headDim)),
            ("\(arch).attention.value_length", u32(config.headDim)),
            ("general.file_type", .uint32(type.fileType)),
            ("\(arch).vocab_size", u32(config.vocabSize)),
            ("\(arch).rope.dimension_count", u32(config.headDim))
        ]
        if let scaling = config.ropeScaling {
            guard scaling.type == "linear" else {
                throw MGLLaVALoadError(
                    source: llm.appendingPathComponent("config.json").path,
                    reason: "rope_scaling \"\(scaling.type)\" cannot be written to GGUF yet (linear can)")
            }
            m += [
                ("\(arch).rope.scaling.type", text("linear")),
                ("\(arch).rope.scaling.factor", .float32(Float(scaling.factor)))
            ]
        }
        if let window = config.slidingWindow, config.family == .phi3 {
            m.append(("\(arch).attention.sliding_window", u32(window)))
        }
        m.append(("general.quantization_version", .uint32(2)))  // the converter writes it for every type
        m += try vocabulary(llm: llm, config: config)
        return m
    }

    /// `tokenizer.ggml.*` from the folder's SentencePiece `tokenizer.model`, as `convert_hf_to_gguf.py` builds it:
    /// pieces with their scores and types, `[PAD…]` entries up to the config's vocabulary size, added tokens
    /// (user-defined or control), the special token ids, BOS/EOS flags and the chat template.
    static func vocabulary(llm: URL, config: LLMConfiguration) throws -> [(key: String, value: GGUFValue)] {
        let modelURL = llm.appendingPathComponent("tokenizer.model")
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw MGLLaVALoadError(
                source: llm.path,
                reason: "no tokenizer.model: only SentencePiece vocabularies (Vicuna, Yi, Phi-3) can be written to "
                    + "GGUF yet (Llama-3's tokenizer.json BPE cannot)")
        }
        let sp = try SentencePieceModel(contentsOf: modelURL)
        let n = config.vocabSize
        var tokens = (0..<n).map { Array("[PAD\($0)]".utf8) }
        var scores = [Float](repeating: -10000, count: n)
        var types = [Int32](repeating: 5, count: n)
        for (id, piece) in sp.pieces.enumerated() where id < n {
            tokens[id] = Array(piece.piece.utf8)
            scores[id] = piece.score
            // The converter asks sentencepiece IsUnknown/IsControl/IsUnused/IsByte; a user-defined piece is NORMAL.
            types[id] = piece.type == .userDefined ? 1 : piece.type.rawValue
        }
        let tokenizer = try Tokenizer.load(directory: llm)
        let named = Set(
            [tokenizer.bosToken, tokenizer.eosToken, tokenizer.unkToken, tokenizer.padToken].compactMap {
                $0.map { Array($0.utf8) }
            })
        for token in tokenizer.addedTokens where token.id >= sp.pieces.count && token.id < n {
            tokens[token.id] = Array(token.content.utf8)
            scores[token.id] = -1000
            types[token.id] = token.special || named.contains(Array(token.content.utf8)) ? 3 : 4
        }
        var m: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string(Array("llama".utf8))),
            ("tokenizer.ggml.pre", .string(Array("default".utf8))),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0) }))
        ]
        if let id = tokenizer.bosTokenId { m.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(id)))) }
        if let id = tokenizer.eosTokenId { m.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(id)))) }
        if let id = tokenizer.unkTokenId { m.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(id)))) }
        if let id = tokenizer.padTokenId ?? config.padTokenId {
            m.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(id))))
        }
        let settings = try tokenizerSettings(llm)
        m.append(("tokenizer.ggml.add_bos_token", .bool(settings.addBos)))
        m.append(("tokenizer.ggml.add_eos_token", .bool(settings.addEos)))
        if let template = settings.chatTemplate { m.append(("tokenizer.chat_template", .string(Array(template.utf8)))) }
        return m
    }

    /// tokenizer_config.json's add_bos_token (true when absent, as LlamaTokenizer), add_eos_token, chat_template.
    static func tokenizerSettings(_ llm: URL) throws -> (addBos: Bool, addEos: Bool, chatTemplate: String?) {
        let url = llm.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return (true, false, nil) }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw MGLLaVALoadError(source: url.path, reason: "not a JSON object")
        }
        return (
            object["add_bos_token"] as? Bool ?? true, object["add_eos_token"] as? Bool ?? false,
            object["chat_template"] as? String
        )
    }
}
