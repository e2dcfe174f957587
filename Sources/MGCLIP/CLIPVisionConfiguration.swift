import Foundation
import MGJSON

@_exported import struct MGJSON.ConfigError

/// The vision half of an HF CLIP `config.json`, decoded as transformers' `CLIPVisionConfig` reads it: unknown
/// fields ignored, `num_channels`, `hidden_act`, `layer_norm_eps` and `projection_dim` defaulted, the sizes
/// required and checked. Encodes back to the same snake_case keys (a `clip_vision_model` config's top level).
public struct CLIPVisionConfiguration: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Double
    public var projectionDim: Int

    /// Patches per side (24 for ViT-L/14 at 336).
    public var gridSize: Int { imageSize / patchSize }

    /// Reads the vision part of a CLIP `config.json` (a folder's, or the file itself): the nested `vision_config`
    /// of a full CLIPModel (or the legacy `vision_config_dict`), or the top level of a `clip_vision_model` config.
    /// Errors name the file and the key (e.g. `vision_config.hidden_size`).
    public static func load(_ url: URL) throws -> CLIPVisionConfiguration {
        try ConfigFile.decode(File.self, from: ConfigFile.resolve(url, defaultName: "config.json")).vision
    }

    /// `load(_:)` for the text of a CLIP `config.json`, errors naming `path` as the file.
    public static func decode(_ data: Data, path: String) throws -> CLIPVisionConfiguration {
        try ConfigFile.decode(File.self, from: data, path: path).vision
    }

    /// A whole CLIP `config.json`: where its vision tower's configuration sits depends on `model_type`.
    struct File: Decodable {
        var vision: CLIPVisionConfiguration

        enum CodingKeys: String, CodingKey {
            case modelType = "model_type", visionConfig = "vision_config", visionConfigDict = "vision_config_dict"
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? ""
            if modelType == "clip_vision_model" {
                vision = try CLIPVisionConfiguration(from: decoder)
            } else if let nested = try c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .visionConfig) {
                vision = nested
            } else if let legacy = try c.decodeIfPresent(CLIPVisionConfiguration.self, forKey: .visionConfigDict) {
                vision = legacy
            } else {
                throw DecodingError.dataCorruptedError(
                    forKey: .visionConfig, in: c,
                    debugDescription:
                        "required field is missing (model_type \"\(modelType)\" has no vision tower config)")
            }
        }
    }

    public init(
        hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numChannels: Int = 3,
        imageSize: Int, patchSize: Int, hiddenAct: String = "quick_gelu", layerNormEps: Double = 1e-5,
        projectionDim: Int = 512
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        self.projectionDim = projectionDim
    }

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels", imageSize = "image_size", patchSize = "patch_size"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", projectionDim = "projection_dim"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeInteger(forKey: .hiddenSize)
        intermediateSize = try c.decodeInteger(forKey: .intermediateSize)
        numHiddenLayers = try c.decodeInteger(forKey: .numHiddenLayers)
        numAttentionHeads = try c.decodeInteger(forKey: .numAttentionHeads)
        numChannels = try c.decodeIntegerIfPresent(forKey: .numChannels) ?? 3
        imageSize = try c.decodeInteger(forKey: .imageSize)
        patchSize = try c.decodeInteger(forKey: .patchSize)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-5
        projectionDim = try c.decodeIntegerIfPresent(forKey: .projectionDim) ?? 512
        let sizes: [(CodingKeys, Int)] = [
            (.hiddenSize, hiddenSize), (.intermediateSize, intermediateSize), (.numHiddenLayers, numHiddenLayers),
            (.numAttentionHeads, numAttentionHeads), (.imageSize, imageSize), (.patchSize, patchSize),
            (.numChannels, numChannels)
        ]
        for (key, value) in sizes where value <= 0 {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "must be positive, found \(value)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw DecodingError.dataCorruptedError(
                forKey: .numAttentionHeads, in: c,
                debugDescription: "\(numAttentionHeads) does not divide hidden_size \(hiddenSize)")
        }
        if imageSize % patchSize != 0 {
            throw DecodingError.dataCorruptedError(
                forKey: .patchSize, in: c, debugDescription: "\(patchSize) does not divide image_size \(imageSize)")
        }
    }
}

extension CLIPVisionArchitecture {
    /// The architecture a CLIP vision configuration describes.
    public init(_ configuration: CLIPVisionConfiguration) {
        self.init(
            hiddenSize: configuration.hiddenSize, intermediateSize: configuration.intermediateSize,
            numHiddenLayers: configuration.numHiddenLayers, numAttentionHeads: configuration.numAttentionHeads,
            numChannels: configuration.numChannels, imageSize: configuration.imageSize,
            patchSize: configuration.patchSize, layerNormEps: Float(configuration.layerNormEps),
            hiddenAct: configuration.hiddenAct)
    }
}
