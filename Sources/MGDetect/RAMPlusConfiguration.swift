import Foundation
import MGJSON

// RAM++ (recognize-anything's `ram_plus`, the tagger MG-LLaVA runs before OWLv2) is built from two upstream config
// files: the Swin image encoder's (`ram/configs/swin/config_swinL_384.json`) and the tagging head's BERT config
// (`ram/configs/q2l_config.json`). Both are read in upstream's own format; the released checkpoint carries neither,
// so `.swinLarge384` (the files' values) is what `ram_plus(vit='swin_l', image_size=384)` builds.

/// The Swin Transformer image encoder as recognize-anything builds it (`SwinTransformer(img_size=image_res,
/// patch_size=4, embed_dim, depths, num_heads, window_size, mlp_ratio=4, qkv_bias=True, ape=False,
/// patch_norm=True)`). Upstream's vision config file keys: `image_res`, `embed_dim`, `depths`, `num_heads`,
/// `window_size`, `vision_width`.
public struct SwinConfiguration: Sendable, Equatable, Decodable {
    /// The square input side (`image_res`: 384 for RAM++ swin_l).
    public var imageSize: Int
    public var patchSize = 4
    /// Channels of the first stage; stage i has `embedDim · 2^i`.
    public var embedDim: Int
    /// Blocks per stage.
    public var depths: [Int]
    /// Attention heads per stage.
    public var numHeads: [Int]
    /// The window side (12 at 384); a stage whose grid is not larger uses its grid as the window and no shift.
    public var windowSize: Int
    public var mlpRatio = 4
    /// nn.LayerNorm's default.
    public var layerNormEps: Float = 1e-5

    /// A configuration from its parts.
    public init(imageSize: Int, embedDim: Int, depths: [Int], numHeads: [Int], windowSize: Int) {
        self.imageSize = imageSize
        self.embedDim = embedDim
        self.depths = depths
        self.numHeads = numHeads
        self.windowSize = windowSize
    }

    /// `config_swinL_384.json`: Swin-L at 384, window 12.
    public static let large384 = SwinConfiguration(
        imageSize: 384, embedDim: 192, depths: [2, 2, 18, 2], numHeads: [6, 12, 24, 48], windowSize: 12)

    /// Channels of stage `i`.
    public func dim(stage i: Int) -> Int { embedDim << i }
    /// The token grid side of stage `i` (patch grid halved by every patch merging before it).
    public func resolution(stage i: Int) -> Int { (imageSize / patchSize) >> i }
    /// The window side stage `i` attends in: upstream shrinks the window to the grid when the grid is not larger.
    public func window(stage i: Int) -> Int { min(windowSize, resolution(stage: i)) }
    /// The cyclic shift of the odd blocks of stage `i` (0 where the window covers the whole grid).
    public func shift(stage i: Int) -> Int { resolution(stage: i) <= windowSize ? 0 : windowSize / 2 }
    /// Channels of the output (`vision_width`).
    public var outputDim: Int { dim(stage: depths.count - 1) }

    enum CodingKeys: String, CodingKey {
        case imageSize = "image_res", embedDim = "embed_dim", depths, numHeads = "num_heads"
        case windowSize = "window_size", visionWidth = "vision_width"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        imageSize = try c.decodeInteger(forKey: .imageSize)
        embedDim = try c.decodeInteger(forKey: .embedDim)
        depths = try c.decodeIntegersIfPresent(forKey: .depths) ?? []
        numHeads = try c.decodeIntegersIfPresent(forKey: .numHeads) ?? []
        windowSize = try c.decodeInteger(forKey: .windowSize)
        func refuse(_ key: CodingKeys, _ reason: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: reason)
        }
        if let problem = validationProblem() { throw refuse(problem.key, problem.reason) }
        if let width = try c.decodeIntegerIfPresent(forKey: .visionWidth), width != outputDim {
            throw refuse(.visionWidth, "\(width) differs from embed_dim · 2^(stages − 1) = \(outputDim)")
        }
    }

    /// The first inconsistency, if any (sizes, heads dividing widths, grids dividing into windows and pairs).
    func validationProblem() -> (key: CodingKeys, reason: String)? {
        let limit = 1 << 16
        for (key, value) in [(CodingKeys.imageSize, imageSize), (.embedDim, embedDim), (.windowSize, windowSize)]
        where value <= 0 || value > limit {
            return (key, "must be between 1 and \(limit), found \(value)")
        }
        guard !depths.isEmpty, depths.allSatisfy({ $0 > 0 && $0 <= 1024 }) else {
            return (.depths, "must list at least one stage of 1…1024 blocks, found \(depths)")
        }
        guard numHeads.count == depths.count else {
            return (.numHeads, "lists \(numHeads.count) stages but depths lists \(depths.count)")
        }
        guard imageSize % patchSize == 0 else { return (.imageSize, "\(imageSize) is not a multiple of 4") }
        for i in depths.indices {
            guard numHeads[i] > 0, dim(stage: i) % numHeads[i] == 0 else {
                return (.numHeads, "stage \(i): \(numHeads[i]) heads do not divide its \(dim(stage: i)) channels")
            }
            let side = resolution(stage: i)
            guard side > 0, side % window(stage: i) == 0 else {
                return (.windowSize, "stage \(i)'s \(side) × \(side) grid does not divide into \(windowSize)-windows")
            }
            if i + 1 < depths.count && side % 2 != 0 {
                return (.imageSize, "stage \(i)'s \(side) × \(side) grid is odd: patch merging needs it even")
            }
        }
        return nil
    }
}

/// The tagging head: a BERT encoder (`q2l_config.json`) whose layers keep only their cross-attention (from the tag
/// queries to the image tokens) and feed-forward (`del_selfattention`). Upstream's file keys.
public struct RAMTaggingHeadConfiguration: Sendable, Equatable, Decodable {
    public var hiddenSize = 768
    public var numAttentionHeads = 4
    public var intermediateSize = 3072
    public var numHiddenLayers = 2
    public var layerNormEps: Float = 1e-12
    /// "gelu" (exact, transformers' ACT2FN) or "relu".
    public var hiddenAct = "gelu"
    /// Width of the image tokens and label embeddings: `ram_plus` sets 512 whatever the file says.
    public var encoderWidth = 512

    /// `q2l_config.json` as upstream ships it.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIntegerIfPresent(forKey: .hiddenSize) ?? hiddenSize
        numAttentionHeads = try c.decodeIntegerIfPresent(forKey: .numAttentionHeads) ?? numAttentionHeads
        intermediateSize = try c.decodeIntegerIfPresent(forKey: .intermediateSize) ?? intermediateSize
        numHiddenLayers = try c.decodeIntegerIfPresent(forKey: .numHiddenLayers) ?? numHiddenLayers
        layerNormEps = Float(try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? Double(layerNormEps))
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        for (key, value) in [
            (CodingKeys.hiddenSize, hiddenSize), (.numAttentionHeads, numAttentionHeads),
            (.intermediateSize, intermediateSize), (.numHiddenLayers, numHiddenLayers)
        ] where value <= 0 || value > 1 << 16 {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "must be between 1 and \(1 << 16), found \(value)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .numAttentionHeads, in: c,
                debugDescription: "\(numAttentionHeads) does not divide hidden_size \(hiddenSize)")
        }
        guard ["gelu", "relu"].contains(hiddenAct) else {
            throw DecodingError.dataCorruptedError(
                forKey: .hiddenAct, in: c, debugDescription: "\"\(hiddenAct)\" is not one of gelu, relu")
        }
    }
}

/// RAM++ (`RAM_plus`): the Swin encoder, the tagging head and the tag vocabulary's size.
public struct RAMPlusConfiguration: Sendable, Equatable {
    public var vision: SwinConfiguration
    public var taggingHead: RAMTaggingHeadConfiguration
    /// Tags (4,585 in the released model).
    public var numClasses: Int
    /// Description embeddings per tag in `label_embed` (51 in the released model).
    public var descriptionsPerClass: Int

    /// A configuration from its parts.
    public init(
        vision: SwinConfiguration, taggingHead: RAMTaggingHeadConfiguration, numClasses: Int,
        descriptionsPerClass: Int = 51
    ) {
        self.vision = vision
        self.taggingHead = taggingHead
        self.numClasses = numClasses
        self.descriptionsPerClass = descriptionsPerClass
    }

    /// `ram_plus(vit='swin_l', image_size=384)` with upstream's files: the released `ram_plus_swin_large_14m.pth`.
    public static let swinLarge384 = RAMPlusConfiguration(
        vision: .large384, taggingHead: RAMTaggingHeadConfiguration(), numClasses: 4585)

    /// Reads upstream's vision config (`config_swinL_384.json` format) and tagging head config (`q2l_config.json`).
    public static func load(
        visionConfig: URL, taggingHeadConfig: URL, numClasses: Int, descriptionsPerClass: Int = 51
    ) throws -> RAMPlusConfiguration {
        RAMPlusConfiguration(
            vision: try ConfigFile.decode(SwinConfiguration.self, from: visionConfig),
            taggingHead: try ConfigFile.decode(RAMTaggingHeadConfiguration.self, from: taggingHeadConfig),
            numClasses: numClasses, descriptionsPerClass: descriptionsPerClass)
    }
}
