import Foundation
import MGCheckpoint
import MGLLM

/// An LLM stored as a llama.cpp GGUF file (LLaMA family: Vicuna, Llama-3, Yi; Phi-3): its configuration read from
/// the `{arch}.*` metadata, and its tensors under HF names, in their stored types (F32/F16/BF16 or the Q8_0, Q5_0,
/// Q4_K, Q6_K blocks), memory-mapped. LLaMA q/k projections come back in HF's row order (llama.cpp's converter
/// interleaves them for its RoPE; see `GGUFTensorNames.ropeRow`), which copies those two matrices per layer.
public struct GGUFLLM: @unchecked Sendable {
    public let file: GGUFFile
    public let configuration: LLMConfiguration

    /// Opens `path` and reads the configuration; errors name the file and the metadata key or tensor.
    public init(path: String) throws {
        let file = try GGUFFile(path: path)
        self.file = file
        self.configuration = try GGUFLLM.configuration(of: file)
    }

    /// The architectures this loader maps (llama.cpp's `general.architecture`).
    public static let architectures = ["llama", "phi3"]

    static func configuration(of file: GGUFFile) throws -> LLMConfiguration {
        let path = file.path
        guard let arch = file.architecture else { throw GGUFError.missingKey(path: path, key: "general.architecture") }
        guard architectures.contains(arch) else {
            throw GGUFError.invalidMetadata(
                path: path, key: "general.architecture",
                reason: "\"\(arch)\" is not supported yet (supported: \(architectures.joined(separator: ", ")))")
        }
        func integer(_ key: String, required: Bool = false) throws -> Int? {
            guard let v = file[key] else {
                if required { throw GGUFError.missingKey(path: path, key: key) }
                return nil
            }
            guard let n = v.integer, n >= 0 else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "expected a count, found \(v.summary)")
            }
            return n
        }
        func count(_ key: String) throws -> Int {
            guard let n = try integer(key, required: true) else { throw GGUFError.missingKey(path: path, key: key) }
            return n
        }
        func number(_ key: String) throws -> Double? {
            guard let v = file[key] else { return nil }
            guard let n = v.number else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "expected a number, found \(v.summary)")
            }
            return n
        }
        if file.keys.contains("rope_freqs.weight") || file.keys.contains("rope_factors_long.weight") {
            throw GGUFError.invalidTensor(
                path: path,
                tensor: file.keys.contains("rope_freqs.weight") ? "rope_freqs.weight" : "rope_factors_long.weight",
                reason: "per-frequency RoPE factors (Llama-3.1 / Phi-3 long-context scaling) are not supported yet")
        }
        let embedding = try file.tensorInfo("token_embd.weight")
        var json: [String: Any] = [
            "model_type": arch,
            "vocab_size": embedding.shape[0],
            "hidden_size": try count("\(arch).embedding_length"),
            "intermediate_size": try count("\(arch).feed_forward_length"),
            "num_hidden_layers": try count("\(arch).block_count"),
            "num_attention_heads": try count("\(arch).attention.head_count"),
            "tie_word_embeddings": !file.keys.contains("output.weight"),
            "attention_bias": file.keys.contains("blk.0.attn_q.bias") || file.keys.contains("blk.0.attn_qkv.bias"),
            "hidden_act": "silu"
        ]
        if let kv = try integer("\(arch).attention.head_count_kv") { json["num_key_value_heads"] = kv }
        if let d = try integer("\(arch).attention.key_length") { json["head_dim"] = d }
        if let n = try integer("\(arch).context_length") { json["max_position_embeddings"] = n }
        if let eps = try number("\(arch).attention.layer_norm_rms_epsilon") { json["rms_norm_eps"] = eps }
        if let theta = try number("\(arch).rope.freq_base") { json["rope_theta"] = theta }
        if let w = try integer("\(arch).attention.sliding_window"), w > 0 {
            json["sliding_window"] = w
        }
        if let id = try integer("tokenizer.ggml.bos_token_id") { json["bos_token_id"] = id }
        if let id = try integer("tokenizer.ggml.eos_token_id") { json["eos_token_id"] = id }
        if let id = try integer("tokenizer.ggml.padding_token_id") { json["pad_token_id"] = id }
        if let type = file["\(arch).rope.scaling.type"]?.text, type != "none" {
            guard type == "linear", let factor = try number("\(arch).rope.scaling.factor") else {
                throw GGUFError.invalidMetadata(
                    path: path, key: "\(arch).rope.scaling.type",
                    reason: "\"\(type)\" RoPE scaling is not supported yet (linear with a factor is)")
            }
            json["rope_scaling"] = ["type": "linear", "factor": factor]
        }
        let config: LLMConfiguration
        do {
            config = try JSONDecoder().decode(LLMConfiguration.self, from: JSONSerialization.data(withJSONObject: json))
        } catch {
            throw GGUFError.invalidMetadata(path: path, key: "\(arch).*", reason: "not a valid configuration: \(error)")
        }
        if let ropeDim = try integer("\(arch).rope.dimension_count"), ropeDim != config.headDim {
            throw GGUFError.invalidMetadata(
                path: path, key: "\(arch).rope.dimension_count",
                reason: "\(ropeDim) differs from the head size \(config.headDim) (partial rotary is not supported)")
        }
        if let tokens = file["tokenizer.ggml.tokens"]?.elements, tokens.count != config.vocabSize {
            throw GGUFError.invalidMetadata(
                path: path, key: "tokenizer.ggml.tokens",
                reason: "\(tokens.count) tokens, but token_embd.weight has \(config.vocabSize) rows")
        }
        return config
    }

    /// Every tensor under its HF key, in its stored type (q/k rows reordered into owned copies). A tensor with no
    /// HF counterpart is an error naming it.
    public func hfState() throws -> [String: Tensor] {
        let family = configuration.family
        var state: [String: Tensor] = [:]
        for name in file.keys {
            guard let key = GGUFTensorNames.hf(forGGUF: name, family: family) else {
                throw GGUFError.invalidTensor(
                    path: file.path, tensor: name, reason: "no \(family.rawValue) weight has this name")
            }
            let permuted = GGUFTensorNames.isRopePermuted(key, family: family)
            // A reordered projection is read into its own memory (see `GGUFFile.tensor(_:copy:)`) and reordered there.
            let tensor = try file.tensor(name, copy: permuted)
            if permuted {
                try GGUFLLM.reorderRowsInPlace(tensor, headDim: configuration.headDim, name: name, path: file.path)
            }
            state[key] = tensor
        }
        return state
    }

    /// Reorders the rows of an owned q/k projection (or bias) from llama.cpp's RoPE layout to HF's, one head at a
    /// time through a head-sized scratch.
    static func reorderRowsInPlace(_ t: Tensor, headDim: Int, name: String, path: String) throws {
        let rows = t.shape[0]
        guard headDim > 0, rows % headDim == 0 else {
            throw GGUFError.invalidTensor(
                path: path, tensor: name, reason: "\(rows) rows are not whole heads of \(headDim)")
        }
        let rowBytes = t.storage.byteCount / Swift.max(rows, 1)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(headDim * rowBytes, 1), alignment: 64)
        defer { scratch.deallocate() }
        for head in stride(from: 0, to: rows, by: headDim) {
            let base = t.storage.pointer + head * rowBytes
            scratch.copyMemory(from: base, byteCount: headDim * rowBytes)
            for r in 0..<headDim {
                let source = GGUFTensorNames.ropeRow(r, headDim: headDim, toGGUF: true)
                (base + r * rowBytes).copyMemory(from: scratch + source * rowBytes, byteCount: rowBytes)
            }
        }
    }

    /// The rows of a q/k projection (or its bias) moved between HF's and llama.cpp's RoPE layouts, bytes copied row
    /// by row (a quantized row is whole blocks, so any type works).
    static func reorderRows(_ t: Tensor, headDim: Int, toGGUF: Bool, name: String, path: String) throws -> Tensor {
        let rows = t.shape[0]
        guard headDim > 0, rows % headDim == 0 else {
            throw GGUFError.invalidTensor(
                path: path, tensor: name, reason: "\(rows) rows are not whole heads of \(headDim)")
        }
        let rowBytes = t.storage.byteCount / Swift.max(rows, 1)
        let out = Storage(uninitializedCount: t.count, dtype: t.dtype)
        for row in 0..<rows {
            let source = GGUFTensorNames.ropeRow(row, headDim: headDim, toGGUF: !toGGUF)
            (out.pointer + row * rowBytes).copyMemory(from: t.storage.pointer + source * rowBytes, byteCount: rowBytes)
        }
        return Tensor(storage: out, shape: t.shape)
    }
}

extension CausalLM {
    /// A frozen model from a GGUF file: the configuration from its metadata, the weights used in place in their
    /// stored types (quantized products for the Q types), loaded strictly.
    public static func load(gguf url: URL) throws -> CausalLM {
        let gguf = try GGUFLLM(path: url.path)
        let model = CausalLM(try LLMArchitecture(gguf.configuration, path: url.path))
        model.freeze()
        try model.load(try gguf.hfState(), source: url.path, ignoring: CausalLM.isIgnoredKey, inPlaceWhenFrozen: true)
        return model
    }
}

extension GGUFLLM {
    /// The tokenizer the file carries (`tokenizer.ggml.*`): SentencePiece vocabularies (`tokenizer.ggml.model`
    /// "llama": Vicuna, Yi, Phi-3) are supported; byte-level BPE ("gpt2": Llama-3) is refused with a clear error.
    public func tokenizer() throws -> Tokenizer {
        let path = file.path
        guard let model = file["tokenizer.ggml.model"]?.text else {
            throw GGUFError.missingKey(path: path, key: "tokenizer.ggml.model")
        }
        guard model == "llama" else {
            throw GGUFError.invalidMetadata(
                path: path, key: "tokenizer.ggml.model",
                reason: "\"\(model)\" tokenizers are not supported yet (SentencePiece \"llama\" is); give the HF "
                    + "folder's tokenizer instead")
        }
        func array(_ key: String) throws -> [GGUFValue] {
            guard let v = file[key] else { throw GGUFError.missingKey(path: path, key: key) }
            guard let e = v.elements else {
                throw GGUFError.invalidMetadata(path: path, key: key, reason: "expected an array, found \(v.summary)")
            }
            return e
        }
        let tokens = try array("tokenizer.ggml.tokens").enumerated().map { i, v in
            guard let b = v.bytes else {
                throw GGUFError.invalidMetadata(
                    path: path, key: "tokenizer.ggml.tokens", reason: "entry \(i) is \(v.summary), not a string")
            }
            return b
        }
        let scores = try array("tokenizer.ggml.scores").enumerated().map { i, v in
            guard case let .float32(f) = v else {
                throw GGUFError.invalidMetadata(
                    path: path, key: "tokenizer.ggml.scores", reason: "entry \(i) is \(v.summary), not a FLOAT32")
            }
            return f
        }
        let types = try array("tokenizer.ggml.token_type").enumerated().map { i, v in
            guard let t = v.integer, let t32 = Int32(exactly: t) else {
                throw GGUFError.invalidMetadata(
                    path: path, key: "tokenizer.ggml.token_type", reason: "entry \(i) is \(v.summary)")
            }
            return t32
        }
        func id(_ key: String) -> Int? { file[key]?.integer }
        func flag(_ key: String, _ otherwise: Bool) -> Bool { file[key]?.bool ?? otherwise }
        return try Tokenizer.sentencePiece(
            pieces: tokens, scores: scores, types: types, unknownId: id("tokenizer.ggml.unknown_token_id"),
            bosId: id("tokenizer.ggml.bos_token_id"), eosId: id("tokenizer.ggml.eos_token_id"),
            padId: id("tokenizer.ggml.padding_token_id"), addBos: flag("tokenizer.ggml.add_bos_token", true),
            addEos: flag("tokenizer.ggml.add_eos_token", false),
            addSpacePrefix: flag("tokenizer.ggml.add_space_prefix", true), file: path)
    }

    /// The chat template the file carries (`tokenizer.chat_template`), if any.
    public var chatTemplate: String? { file["tokenizer.chat_template"]?.text }
}

extension Tokenizer {
    /// The tokenizer for the LLM at `llm`: the folder `directory` when given, else the LLM's own — its GGUF
    /// file's `tokenizer.ggml.*` metadata, or its HF folder.
    public static func forLLM(_ llm: URL, tokenizer directory: URL? = nil) throws -> Tokenizer {
        if let directory { return try Tokenizer.load(directory: directory) }
        if CausalLM.isGGUF(llm) { return try GGUFLLM(path: llm.path).tokenizer() }
        return try Tokenizer.load(directory: llm)
    }
}
