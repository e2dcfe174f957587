import Foundation
import MGCheckpoint
import MGDetect
import MGTensor

/// What RAM++ says of one image.
public struct RAMTagging: Equatable, Sendable {
    /// The predicted tags joined as upstream's `generate_tag` joins them: `' | '.join`, in class order.
    public var tagString: String
    /// The predicted classes, ascending.
    public var classes: [Int]
    /// sigmoid(logit) of every class.
    public var probabilities: [Float]
}

/// RAM++ ready to tag images: the model, its tag vocabulary and upstream's preprocessing (`ram.get_transform`).
///
/// One image at a time; not safe to call from several threads at once.
public final class RAMPlusTagger {
    public let model: RAMPlusModel
    public let vocabulary: RAMTagVocabulary
    /// The checkpoint it was loaded from (for messages).
    public let checkpoint: URL
    /// Checkpoint keys the model does not use (upstream loads with `strict=False` and ignores them too).
    public let unusedKeys: [String]

    /// ImageNet statistics of `ram.get_transform`'s `Normalize`.
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    /// The file names upstream's `ram` package keeps its vocabulary under (`ram/data/`).
    public static let tagListName = "ram_tag_list.txt"
    public static let thresholdsName = "ram_tag_list_threshold.txt"
    /// Optional files beside the checkpoint that describe a model other than the released swin_l 384 one, in
    /// upstream's formats (`ram/configs/swin/config_swinL_384.json`, `ram/configs/q2l_config.json`).
    public static let visionConfigName = "config_swin.json"
    public static let taggingHeadConfigName = "q2l_config.json"

    /// A tagger from its parts; the model's class count must be the vocabulary's.
    public init(model: RAMPlusModel, vocabulary: RAMTagVocabulary, checkpoint: URL, unusedKeys: [String] = []) throws {
        guard model.configuration.numClasses == vocabulary.tags.count else {
            throw DetectorError(
                "\(checkpoint.path): the model has \(model.configuration.numClasses) classes but the tag vocabulary "
                    + "\(vocabulary.tags.count) tags")
        }
        self.model = model
        self.vocabulary = vocabulary
        self.checkpoint = checkpoint
        self.unusedKeys = unusedKeys
    }

    /// Loads RAM++ from `path`: the checkpoint file (`ram_plus_swin_large_14m.pth`) or a folder holding exactly one
    /// `.pth`/`.safetensors`. The tag list and thresholds default to `ram_tag_list.txt` and
    /// `ram_tag_list_threshold.txt` beside the checkpoint (copy them from recognize-anything's `ram/data/`); the
    /// architecture is the released swin_l at 384 unless `config_swin.json` and `q2l_config.json` lie beside it.
    /// Every missing file is named before anything loads.
    public static func load(_ path: URL, tagList: URL? = nil, thresholds: URL? = nil) throws -> RAMPlusTagger {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw DetectorError("tagger \(path.path): no such file or folder")
        }
        let checkpoint: URL
        let folder: URL
        if isDirectory.boolValue {
            folder = path
            let entries = (try? fm.contentsOfDirectory(atPath: path.path)) ?? []
            let candidates = entries.filter { $0.hasSuffix(".pth") || $0.hasSuffix(".safetensors") }.sorted()
            guard candidates.count == 1 else {
                throw DetectorError(
                    "tagger folder \(path.path): expected one RAM++ checkpoint (.pth or .safetensors), found "
                        + (candidates.isEmpty ? "none" : candidates.joined(separator: ", ")))
            }
            checkpoint = path.appendingPathComponent(candidates[0])
        } else {
            checkpoint = path
            folder = path.deletingLastPathComponent()
        }
        let tagList = tagList ?? folder.appendingPathComponent(tagListName)
        let thresholds = thresholds ?? folder.appendingPathComponent(thresholdsName)
        let missing = [tagList, thresholds].filter { !fm.fileExists(atPath: $0.path) }
        guard missing.isEmpty else {
            throw DetectorError(
                "tagger: missing \(missing.map(\.path).joined(separator: ", ")) (recognize-anything's ram/data/"
                    + "\(tagListName) and \(thresholdsName); give them with --tag-list / --tag-thresholds or put "
                    + "them beside the checkpoint)")
        }
        let vocabulary = try RAMTagVocabulary.load(tagList: tagList, thresholds: thresholds)

        var configuration = RAMPlusConfiguration.swinLarge384
        let visionConfig = folder.appendingPathComponent(visionConfigName)
        let headConfig = folder.appendingPathComponent(taggingHeadConfigName)
        let hasVision = fm.fileExists(atPath: visionConfig.path), hasHead = fm.fileExists(atPath: headConfig.path)
        if hasVision != hasHead {
            throw DetectorError(
                "tagger folder \(folder.path): has \(hasVision ? visionConfigName : taggingHeadConfigName) but not "
                    + "\(hasVision ? taggingHeadConfigName : visionConfigName) (give both, or neither for swin_l 384)")
        }
        if hasVision {
            configuration = try RAMPlusConfiguration.load(
                visionConfig: visionConfig, taggingHeadConfig: headConfig, numClasses: vocabulary.tags.count)
        }
        configuration.numClasses = vocabulary.tags.count
        // The tag list decides the class count; a RAM++ checkpoint trained with another list has another label_embed.
        // (Other variants — RAM's label_embed has one row per tag — are named by the model's own checks.)
        let weights = try Checkpoint.open(checkpoint)
        if weights.keys.contains("label_embed") && weights.keys.contains("reweight_scale") {
            let rows = try weights.info(for: "label_embed").shape.first ?? 0
            let d = configuration.descriptionsPerClass
            if rows != vocabulary.tags.count * d {
                throw DetectorError(
                    "tag list \(tagList.path) has \(vocabulary.tags.count) tags but \(checkpoint.path)'s label_embed "
                        + "has \(rows) rows (\(rows % d == 0 ? "\(rows / d) tags" : "not a multiple of \(d)") × \(d) "
                        + "descriptions): the tag list is not the one the checkpoint was trained with")
            }
        }
        let (model, unused) = try RAMPlusModel.load(
            weights: weights, path: checkpoint.path, configuration: configuration)
        return try RAMPlusTagger(model: model, vocabulary: vocabulary, checkpoint: checkpoint, unusedKeys: unused)
    }

    /// `ram.get_transform(size)`: Pillow bilinear `Resize((size, size))` (anti-aliased when shrinking, as
    /// torchvision hands a PIL image to `Image.resize`), `ToTensor` (x / 255 in float32), ImageNet `Normalize`
    /// ((x − mean) / std in float32) → [1, 3, size, size].
    public func preprocess(_ image: RGBImage) -> Tensor {
        let side = model.configuration.vision.imageSize
        let resized = image.resized(width: side, height: side, filter: .bilinear)
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 { table[c * 256 + v] = (Float(v) / 255 - Self.mean[c]) / Self.std[c] }
        }
        let plane = side * side
        var values = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { values[c * plane + i] = table[c * 256 + Int(resized.pixels[3 * i + c])] }
        }
        return Tensor(values, shape: [1, 3, side, side])
    }

    /// The tags RAM++ predicts for `image` (`generate_tag`): sigmoid(logit) > the tag's threshold, strictly.
    public func tag(_ image: RGBImage) -> RAMTagging {
        let logits = withNoGrad { model.forward(preprocess(image)).logits }.toArray()
        return tagging(logits: logits)
    }

    /// The tagging for one image's logits [N].
    public func tagging(logits: [Float]) -> RAMTagging {
        let probabilities = logits.map { 1 / (1 + Float(Foundation.exp(Double(-$0)))) }
        let classes = probabilities.indices.filter { probabilities[$0] > vocabulary.thresholds[$0] }
        return RAMTagging(
            tagString: classes.map { vocabulary.tags[$0] }.joined(separator: " | "), classes: classes,
            probabilities: probabilities)
    }
}
