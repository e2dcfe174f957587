import Foundation
import MGNN
import MGTokenizers

/// A problem with a detector folder or a detection request, in words that name the file, field and value.
public struct DetectorError: Error, Equatable, CustomStringConvertible {
    public var description: String

    /// An error with its message.
    public init(_ description: String) { self.description = description }
}

/// OWLv2 ready to find boxes: the model, its CLIP tokenizer and image processor, loaded from an HF folder, with the
/// query embeddings cached per query text (a vocabulary is encoded once, however many images follow).
///
/// One image at a time: `detect` is not safe to call from several threads at once (the cache is unguarded).
public final class OWLv2Detector {
    public let model: OWLv2Model
    public let tokenizer: Tokenizer
    public let processor: OWLv2ImageProcessor
    /// The folder it was loaded from (for messages).
    public let directory: URL
    /// Called once per query text that is longer than the text tower takes (cut as transformers' `truncation=True`).
    public var onTruncatedQuery: ((String, Int) -> Void)?

    /// Query text (UTF-8 bytes) → its normalised embedding.
    private var cache: [[UInt8]: [Float]] = [:]

    /// A detector from its parts.
    public init(model: OWLv2Model, tokenizer: Tokenizer, processor: OWLv2ImageProcessor, directory: URL) {
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.directory = directory
    }

    /// Loads an HF OWLv2 folder as downloaded (`google/owlv2-base-patch16-ensemble`,
    /// `google/owlv2-large-patch14-ensemble`): `config.json`, `model.safetensors` or `pytorch_model.bin`,
    /// `preprocessor_config.json` and the CLIP tokenizer (`tokenizer.json`, or `vocab.json` + `merges.txt`).
    /// A missing file is named before anything loads; a folder of another architecture is refused by
    /// `config.json`'s `model_type`.
    public static func load(directory: URL) throws -> OWLv2Detector {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DetectorError("detector folder \(directory.path): not a directory")
        }
        func has(_ name: String) -> Bool { fm.fileExists(atPath: directory.appendingPathComponent(name).path) }
        var missing: [String] = []
        if !has("config.json") { missing.append("config.json") }
        if !has("preprocessor_config.json") { missing.append("preprocessor_config.json") }
        if !(has("model.safetensors") || has("model.safetensors.index.json") || has("pytorch_model.bin")
            || has("pytorch_model.bin.index.json"))
        {
            missing.append("model.safetensors (or pytorch_model.bin)")
        }
        if !(has("tokenizer.json") || (has("vocab.json") && has("merges.txt"))) {
            missing.append("tokenizer.json (or vocab.json + merges.txt)")
        }
        guard missing.isEmpty else {
            throw DetectorError(
                "detector folder \(directory.path) is missing \(missing.joined(separator: ", ")) "
                    + "(an HF OWLv2 folder such as google/owlv2-large-patch14-ensemble has them)")
        }
        let model = try OWLv2Model.load(directory: directory)
        let processor = try OWLv2ImageProcessor.load(directory.appendingPathComponent("preprocessor_config.json"))
        let tokenizer = try Tokenizer.load(directory: directory)
        guard tokenizer.padTokenId != nil else {
            throw DetectorError("\(directory.path): the tokenizer has no pad token (OWLv2 pads queries with \"!\")")
        }
        let size = processor.configuration.size
        let side = model.configuration.vision.imageSize
        if processor.configuration.doResize && (size.height != side || size.width != side) {
            throw DetectorError(
                "\(directory.appendingPathComponent("preprocessor_config.json").path): 'size' is "
                    + "\(size.height)×\(size.width) but config.json's vision_config.image_size is \(side)")
        }
        return OWLv2Detector(model: model, tokenizer: tokenizer, processor: processor, directory: directory)
    }

    /// How many distinct query texts have been embedded (and are cached).
    public var cachedQueryCount: Int { cache.count }

    /// The query length the text tower takes (`max_position_embeddings`, 16).
    public var queryLength: Int { model.configuration.text.maxPositionEmbeddings }

    /// Normalised embeddings of the query texts, [Q, D], from the cache where encoded before.
    public func queryEmbeddings(_ texts: [String]) throws -> Tensor {
        let d = model.configuration.projectionDim
        let keys = texts.map { Array($0.utf8) }
        var pending: [(key: [UInt8], ids: [Int])] = []
        var queued = Set<[UInt8]>()
        for (text, key) in zip(texts, keys) where cache[key] == nil && queued.insert(key).inserted {
            guard let encoded = tokenizer.encodePadded(text, length: queryLength) else {
                throw DetectorError("query \"\(text)\": cannot be encoded in \(queryLength) tokens")
            }
            if encoded.truncated { onTruncatedQuery?(text, queryLength) }
            // Cut after the end-of-text token: the pooled state is the same (causal mask), the work smaller.
            let end = CLIPTextTransformer.poolingPosition(encoded.ids)
            pending.append((key, Array(encoded.ids.prefix(end + 1))))
        }
        if !pending.isEmpty {
            let embeddings = withNoGrad { model.queryEmbeddings(pending.map(\.ids)) }.toArray()
            for (i, entry) in pending.enumerated() { cache[entry.key] = Array(embeddings[(i * d)..<((i + 1) * d)]) }
        }
        var rows: [Float] = []
        rows.reserveCapacity(texts.count * d)
        for key in keys { rows += cache[key] ?? [] }
        return Tensor(rows, shape: [texts.count, d])
    }

    /// The boxes OWLv2 finds in an 8-bit RGB image (`width × height × 3` bytes, row-major) for the query texts:
    /// upstream's `post_process_object_detection(threshold, target_sizes=[[max(W,H), max(W,H)]])` and `.int()`.
    public func detect(
        rgb: [UInt8], width: Int, height: Int, queries: [String], threshold: Float
    ) throws
        -> [OWLv2Detection]
    {
        guard !queries.isEmpty else { throw DetectorError("no queries: give at least one tag to look for") }
        guard threshold.isFinite else { throw DetectorError("threshold \(threshold) is not a number") }
        let image = try processor.preprocess(rgb: rgb, width: width, height: height)
        let queryEmbeds = try queryEmbeddings(queries)
        let outputs = withNoGrad {
            model.heads(model.imageFeatures(image.pixelValues), queries: queryEmbeds, objectness: false)
        }
        return outputs.detections(threshold: threshold, side: image.paddedSide)
    }
}
