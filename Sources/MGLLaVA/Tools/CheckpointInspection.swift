import Foundation

/// What a checkpoint file or model folder holds (`mgllava inspect`): every tensor's name, dtype, shape and element
/// count, read safely (pickles are never executed) and with every tensor's bytes touched, so a truncated download
/// fails here rather than later in training; plus a summary of the folder's model config when there is one.
public struct CheckpointInspection {
    /// The file or index opened.
    public var source: String
    public var infos: [WeightInfo]
    /// Non-tensor objects a pickle named (kept inert, never run).
    public var opaqueGlobals: [String]
    /// A line describing the folder's `config.json` / `open_clip_config.json`, when one decodes.
    public var configSummary: String?

    public init(_ url: URL) throws {
        let weights = try Checkpoint.open(url)
        source = weights.description
        infos = try weights.infos()
        // Storage sizes and offsets were checked at open; this touches the data (a truncated file fails here).
        for info in infos { _ = try weights.tensor(info.name) }
        opaqueGlobals = weights.opaqueGlobals
        configSummary = Self.describeConfig(url)
    }

    public var totalParameters: Int { infos.reduce(0) { $0 + $1.elementCount } }
    public var totalBytes: Int { infos.reduce(0) { $0 + $1.byteCount } }

    /// Elements per stored dtype.
    public var byDType: [String: Int] {
        var counts: [String: Int] = [:]
        for i in infos { counts[i.dtype, default: 0] += i.elementCount }
        return counts
    }

    /// Parameter counts grouped by the first two key components (e.g. `llm.model`, `fuse_module.gate`), sorted.
    public var byModule: [(String, Int)] {
        var groups: [String: Int] = [:]
        for i in infos {
            let parts = i.name.split(separator: ".")
            let key = parts.prefix(parts.count > 2 ? 2 : 1).joined(separator: ".")
            groups[key, default: 0] += i.elementCount
        }
        return groups.sorted { $0.key < $1.key }
    }

    /// One line about the model config in `url` (a folder), if any of the known ones decodes.
    public static func describeConfig(_ url: URL) -> String? {
        let config = url.appendingPathComponent("config.json")
        if let d = try? LLMConfiguration.load(config) {
            return "\(d.family.rawValue) decoder: \(d.numHiddenLayers) layers, hidden \(d.hiddenSize), "
                + "\(d.numAttentionHeads) heads (\(d.numKeyValueHeads) kv), vocab \(d.vocabSize)"
        }
        if let c = try? CLIPVisionConfiguration.load(url) {
            return
                "CLIP vision tower: \(c.numHiddenLayers) layers, hidden \(c.hiddenSize), image \(c.imageSize), patch \(c.patchSize)"
        }
        if let o = try? OpenCLIPConfiguration.load(url) { return "open_clip: \(o.timmModelName) at \(o.imageSize)" }
        return nil
    }

    /// The report as JSON-ready values (`mgllava inspect --json`).
    public var json: [String: Any] {
        [
            "source": source,
            "tensors": infos.map {
                ["name": $0.name, "dtype": $0.dtype, "shape": $0.shape, "parameters": $0.elementCount]
            },
            "total_tensors": infos.count,
            "total_parameters": totalParameters,
            "total_bytes": totalBytes,
            "parameters_by_dtype": byDType,
            "opaque_globals": opaqueGlobals,
            "config": configSummary ?? NSNull()
        ]
    }
}

/// What a model will hold in memory for inference, from the checkpoints' headers only (`mgllava chat
/// --estimate-memory`): weights stay in place in their stored dtype (memory-mapped), so the resident size is the
/// stored bytes of what the model reads; an SFT checkpoint with `llm.*` replaces the LLM folder's weights.
public struct MemoryEstimate {
    /// One artifact: its name, stored bytes, parameters, and whether the model reads it.
    public struct Part: Sendable {
        public var name: String
        public var storedBytes: Int
        public var parameters: Int
        public var resident: Bool
    }

    public var parts: [Part]
    /// Bytes of weights resident for inference (activations and the KV cache come on top).
    public var residentBytes: Int { parts.filter(\.resident).reduce(0) { $0 + $1.storedBytes } }

    /// `llm` may be a GGUF file (its tensor types' block sizes count): its weights are then the ones read, and the
    /// checkpoint's `llm.*` tensors are not loaded (the checkpoint part counts the rest).
    public init(llm: URL, visualEncoder: URL, visualEncoderAux: URL, pth: URL?) throws {
        let gguf = CausalLM.isGGUF(llm)
        let replacesLLM =
            try !gguf && (pth.map { try Checkpoint.open($0).keys.contains { $0.hasPrefix("llm.") } } ?? false)
        parts = []
        for (name, url) in [("LLM", llm), ("CLIP", visualEncoder), ("ConvNeXt", visualEncoderAux)]
            + (pth.map { [("checkpoint", $0)] } ?? [])
        {
            var infos = try Checkpoint.open(url).infos()
            if name == "checkpoint" && gguf { infos = infos.filter { !$0.name.hasPrefix("llm.") } }
            parts.append(
                Part(
                    name: name, storedBytes: infos.reduce(0) { $0 + $1.byteCount },
                    parameters: infos.reduce(0) { $0 + $1.elementCount },
                    resident: !(name == "LLM" && replacesLLM)))
        }
    }
}
