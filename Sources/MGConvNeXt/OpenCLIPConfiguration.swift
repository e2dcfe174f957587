import Foundation
import MGJSON

@_exported import struct MGJSON.ConfigError

/// An open_clip folder's `open_clip_config.json` as MG-LLaVA needs it: the timm trunk's name
/// (`model_cfg.vision_cfg.timm_model_name`), the image size (`model_cfg.vision_cfg.image_size`, an integer or
/// `[h, w]`) and the normalisation (`preprocess_cfg.mean` / `std`, OpenAI's when absent). Encodes back to the same
/// nested snake_case keys.
public struct OpenCLIPConfiguration: Sendable, Equatable, Codable {
    public var timmModelName: String
    public var imageSize: Int
    public var mean: [Double]
    public var std: [Double]

    /// OpenAI CLIP's normalisation, open_clip's default.
    public static let openAIMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd = [0.26862954, 0.26130258, 0.27577711]

    /// Reads `open_clip_config.json` of an open_clip folder (or the file itself); errors name the file and the key.
    public static func load(_ url: URL) throws -> OpenCLIPConfiguration {
        try ConfigFile.decode(
            OpenCLIPConfiguration.self, from: ConfigFile.resolve(url, defaultName: "open_clip_config.json"))
    }

    public init(
        timmModelName: String, imageSize: Int, mean: [Double] = openAIMean, std: [Double] = openAIStd
    ) {
        self.timmModelName = timmModelName
        self.imageSize = imageSize
        self.mean = mean
        self.std = std
    }

    enum CodingKeys: String, CodingKey { case modelCfg = "model_cfg", preprocessCfg = "preprocess_cfg" }
    enum ModelKeys: String, CodingKey { case visionCfg = "vision_cfg" }
    enum VisionKeys: String, CodingKey { case timmModelName = "timm_model_name", imageSize = "image_size" }
    enum PreprocessKeys: String, CodingKey { case mean, std }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let model = try c.nestedContainer(keyedBy: ModelKeys.self, forKey: .modelCfg)
        let vision = try model.nestedContainer(keyedBy: VisionKeys.self, forKey: .visionCfg)
        timmModelName = try vision.decode(String.self, forKey: .timmModelName)
        guard let size = try vision.decodeIntegersIfPresent(forKey: .imageSize)?.first, size > 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .imageSize, in: vision, debugDescription: "required field is missing")
        }
        imageSize = size
        if c.contains(.preprocessCfg), try !c.decodeNil(forKey: .preprocessCfg) {
            let pre = try c.nestedContainer(keyedBy: PreprocessKeys.self, forKey: .preprocessCfg)
            mean = try pre.decodeIfPresent([Double].self, forKey: .mean) ?? Self.openAIMean
            std = try pre.decodeIfPresent([Double].self, forKey: .std) ?? Self.openAIStd
        } else {
            mean = Self.openAIMean
            std = Self.openAIStd
        }
        if mean.count != 3 || std.count != 3 || std.contains(where: { $0 <= 0 }) {
            throw DecodingError.dataCorruptedError(
                forKey: .preprocessCfg, in: c, debugDescription: "mean and std must be 3 values (std > 0)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        var model = c.nestedContainer(keyedBy: ModelKeys.self, forKey: .modelCfg)
        var vision = model.nestedContainer(keyedBy: VisionKeys.self, forKey: .visionCfg)
        try vision.encode(timmModelName, forKey: .timmModelName)
        try vision.encode(imageSize, forKey: .imageSize)
        var pre = c.nestedContainer(keyedBy: PreprocessKeys.self, forKey: .preprocessCfg)
        try pre.encode(mean, forKey: .mean)
        try pre.encode(std, forKey: .std)
    }
}

extension ConvNeXtArchitecture {
    /// The trunk an open_clip configuration names, when its timm model name is a known one (`named(_:)`).
    public init?(_ configuration: OpenCLIPConfiguration) {
        guard let named = ConvNeXtArchitecture.named(configuration.timmModelName) else { return nil }
        self = named
    }
}
