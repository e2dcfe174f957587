import Foundation
import MGCLIP
import MGJSON

/// An HF OWLv2 `config.json` (`Owlv2Config` of transformers 4.44.2): `model_type` "owlv2", the nested
/// `text_config` and `vision_config` (each field defaulted as transformers defaults it, because the published files
/// only write what differs), and `projection_dim`. Errors name the file and the key (`vision_config.image_size`).
public struct OWLv2Configuration: Sendable, Equatable, Decodable {
    public var modelType: String
    public var text: OWLv2TextConfiguration
    public var vision: OWLv2VisionConfiguration
    /// Width of the text and image embeddings (`text_projection`, `visual_projection`).
    public var projectionDim: Int

    /// Reads `config.json` from an OWLv2 folder (or the file itself). An OWL-ViT (v1) or any other model type is
    /// refused by name: its heads and preprocessing differ.
    public static func load(_ url: URL) throws -> OWLv2Configuration {
        let file = ConfigFile.resolve(url, defaultName: "config.json")
        let configuration = try ConfigFile.decode(OWLv2Configuration.self, from: file)
        guard configuration.modelType == "owlv2" else {
            throw ConfigError(
                path: file.path, key: "model_type",
                reason: "expected \"owlv2\" (Owlv2ForObjectDetection), found \"\(configuration.modelType)\"")
        }
        return configuration
    }

    /// A configuration from its parts (tests, benchmarks).
    public init(text: OWLv2TextConfiguration, vision: OWLv2VisionConfiguration, projectionDim: Int) {
        self.modelType = "owlv2"
        self.text = text
        self.vision = vision
        self.projectionDim = projectionDim
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", text = "text_config", vision = "vision_config", projectionDim = "projection_dim"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? ""
        text = try c.decodeIfPresent(OWLv2TextConfiguration.self, forKey: .text) ?? OWLv2TextConfiguration()
        vision = try c.decodeIfPresent(OWLv2VisionConfiguration.self, forKey: .vision) ?? OWLv2VisionConfiguration()
        projectionDim = try c.decodeIntegerIfPresent(forKey: .projectionDim) ?? 512
        guard projectionDim > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .projectionDim, in: c, debugDescription: "must be positive, found \(projectionDim)")
        }
        // The class head compares `dense0(image)` (text width) with the projected queries (projection_dim).
        guard projectionDim == text.hiddenSize else {
            throw DecodingError.dataCorruptedError(
                forKey: .projectionDim, in: c,
                debugDescription: "\(projectionDim) differs from text_config.hidden_size \(text.hiddenSize); "
                    + "OWLv2's class head needs them equal")
        }
    }
}

/// `text_config` (`Owlv2TextConfig`): the CLIP text tower that embeds the queries.
public struct OWLv2TextConfiguration: Sendable, Equatable, Decodable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    /// The query length: 16 (queries are padded or truncated to it).
    public var maxPositionEmbeddings = 16
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5

    /// transformers' defaults (the base model's text tower).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIntegerIfPresent(forKey: .vocabSize) ?? vocabSize
        hiddenSize = try c.decodeIntegerIfPresent(forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIntegerIfPresent(forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIntegerIfPresent(forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIntegerIfPresent(forKey: .numAttentionHeads) ?? numAttentionHeads
        maxPositionEmbeddings = try c.decodeIntegerIfPresent(forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? layerNormEps
        try checkSizes(
            c,
            [
                (.vocabSize, vocabSize), (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize),
                (.numHiddenLayers, numHiddenLayers), (.numAttentionHeads, numAttentionHeads),
                (.maxPositionEmbeddings, maxPositionEmbeddings)
            ], hidden: (.hiddenSize, hiddenSize), heads: (.numAttentionHeads, numAttentionHeads), act: hiddenAct,
            actKey: .hiddenAct)
    }
}

/// `vision_config` (`Owlv2VisionConfig`): the CLIP ViT that sees the padded, resized image.
public struct OWLv2VisionConfiguration: Sendable, Equatable, Decodable {
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var numChannels = 3
    /// The side of the square the image is resized to (960 for base-patch16, 1008 for large-patch14).
    public var imageSize = 768
    public var patchSize = 16
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5

    /// transformers' defaults.
    public init() {}

    /// Patches per side.
    public var gridSize: Int { imageSize / patchSize }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIntegerIfPresent(forKey: .hiddenSize) ?? hiddenSize
        intermediateSize = try c.decodeIntegerIfPresent(forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIntegerIfPresent(forKey: .numHiddenLayers) ?? numHiddenLayers
        numAttentionHeads = try c.decodeIntegerIfPresent(forKey: .numAttentionHeads) ?? numAttentionHeads
        numChannels = try c.decodeIntegerIfPresent(forKey: .numChannels) ?? numChannels
        imageSize = try c.decodeIntegerIfPresent(forKey: .imageSize) ?? imageSize
        patchSize = try c.decodeIntegerIfPresent(forKey: .patchSize) ?? patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? layerNormEps
        try checkSizes(
            c,
            [
                (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize), (.numHiddenLayers, numHiddenLayers),
                (.numAttentionHeads, numAttentionHeads), (.numChannels, numChannels), (.imageSize, imageSize),
                (.patchSize, patchSize)
            ], hidden: (.hiddenSize, hiddenSize), heads: (.numAttentionHeads, numAttentionHeads), act: hiddenAct,
            actKey: .hiddenAct)
        if imageSize % patchSize != 0 {
            throw DecodingError.dataCorruptedError(
                forKey: .patchSize, in: c, debugDescription: "\(patchSize) does not divide image_size \(imageSize)")
        }
        if imageSize > 4096 {
            throw DecodingError.dataCorruptedError(
                forKey: .imageSize, in: c, debugDescription: "\(imageSize) is beyond the 4096 this loader accepts")
        }
    }

    /// The ViT as MGCLIP builds it.
    public var architecture: CLIPVisionArchitecture {
        CLIPVisionArchitecture(
            hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: numHiddenLayers,
            numAttentionHeads: numAttentionHeads, numChannels: numChannels, imageSize: imageSize,
            patchSize: patchSize, layerNormEps: Float(layerNormEps), hiddenAct: hiddenAct)
    }
}

/// Every size positive (and at most a sane bound), the heads dividing the width, a known activation.
private func checkSizes<K: CodingKey>(
    _ c: KeyedDecodingContainer<K>, _ sizes: [(K, Int)], hidden: (K, Int), heads: (K, Int), act: String, actKey: K
) throws {
    for (key, value) in sizes where value <= 0 || value > 1 << 20 {
        throw DecodingError.dataCorruptedError(
            forKey: key, in: c, debugDescription: "must be between 1 and \(1 << 20), found \(value)")
    }
    if hidden.1 % heads.1 != 0 {
        throw DecodingError.dataCorruptedError(
            forKey: heads.0, in: c, debugDescription: "\(heads.1) does not divide hidden_size \(hidden.1)")
    }
    if !["quick_gelu", "gelu", "gelu_new"].contains(act) {
        throw DecodingError.dataCorruptedError(
            forKey: actKey, in: c, debugDescription: "\"\(act)\" is not one of quick_gelu, gelu, gelu_new")
    }
}
