import Foundation

/// A sample the dataset could not use under `.skip`, with the reason.
public struct SkippedSample: Equatable, Sendable {
    public var id: String
    public var reason: String
}

/// MG-LLaVA's training dataset (upstream `LLaVADataset` + the box pipeline, SPEC §2.3 and §4): conversations are
/// encoded once at init (for the length-grouped sampler and to drop unsupervised records, as upstream's offline
/// map does); images are decoded lazily in `sample(at:)`.
///
/// Bad samples: problems visible at init (invalid roles, more than one `<image>`, a text-only record holding
/// `<image>`, missing or invalid boxes) throw under `.fail` and remove the record under `.skip`. Image problems
/// surface in `sample(at:)`: under `.fail` it throws, under `.skip` it returns nil and records the reason —
/// the trainer then draws another index (`Batcher.nextIndex()`), so a batch keeps its size.
public final class LLaVADataset {
    public let records: [LLaVARecord]
    public let imageFolder: URL
    public let boxes: BoxIndex?
    public let processor: ImageProcessor
    public let boxConfig: BoxPipelineConfig
    public let onBadSample: BadSamplePolicy
    /// Records dropped because no label survived encoding and truncation (upstream drops them silently).
    public let droppedUnsupervised: Int

    private let encoded: [EncodedConversation]
    private let boxRecords: [BoxRecord?]
    private let lock = NSLock()
    private var skippedList: [SkippedSample]

    /// `maxLength` truncates ids/labels and also drives the box pipeline's near-max-length cap.
    public convenience init(
        records input: [LLaVARecord], imageFolder: URL, boxes: BoxIndex?, tokenizer: ConversationTokenizer,
        template: PromptTemplate, maxLength: Int = ConversationEncoder.defaultMaxLength,
        processor: ImageProcessor = ImageProcessor(), boxConfig: BoxPipelineConfig = BoxPipelineConfig(),
        onBadSample: BadSamplePolicy = .fail
    ) throws {
        try self.init(
            records: input, imageFolder: imageFolder, boxes: boxes, maxLength: maxLength, processor: processor,
            boxConfig: boxConfig, onBadSample: onBadSample
        ) { record, index in
            do {
                return try ConversationEncoder.encode(
                    record.conversations, template: template, tokenizer: tokenizer,
                    maxLength: maxLength, sample: record.id)
            } catch let error as ConversationError {
                if case .missingSpecialToken = error { throw error }  // a tokenizer problem, not a data one
                throw DataError.badSample(id: record.id, index: index, problem: error.description)
            }
        }
    }

    /// Records already encoded (an `offline_processed_text_folder`, see `ProcessedTextCache`): `encodings[i]`
    /// belongs to `records[i]`.
    public convenience init(
        records input: [LLaVARecord], encodings: [EncodedConversation], imageFolder: URL,
        boxes: BoxIndex?, maxLength: Int = ConversationEncoder.defaultMaxLength,
        processor: ImageProcessor = ImageProcessor(), boxConfig: BoxPipelineConfig = BoxPipelineConfig(),
        onBadSample: BadSamplePolicy = .fail
    ) throws {
        guard input.count == encodings.count else {
            throw DataError.invalidConfiguration("\(input.count) records but \(encodings.count) encodings")
        }
        try self.init(
            records: input, imageFolder: imageFolder, boxes: boxes, maxLength: maxLength, processor: processor,
            boxConfig: boxConfig, onBadSample: onBadSample
        ) { _, index in encodings[index] }
    }

    /// The common path: `encode` gives each record's ids and labels (or throws `DataError.badSample`).
    init(
        records input: [LLaVARecord], imageFolder: URL, boxes: BoxIndex?, maxLength: Int, processor: ImageProcessor,
        boxConfig: BoxPipelineConfig, onBadSample: BadSamplePolicy,
        encode: (LLaVARecord, Int) throws -> EncodedConversation
    ) throws {
        var kept: [LLaVARecord] = [], keptEncoded: [EncodedConversation] = [], keptBoxes: [BoxRecord?] = []
        var skipped: [SkippedSample] = []
        var unsupervised = 0
        for (index, record) in input.enumerated() {
            do {
                let encoding = try encode(record, index)
                if record.isTextOnly && encoding.inputIds.contains(ConversationEncoder.imageTokenIndex) {
                    throw DataError.badSample(
                        id: record.id, index: index,
                        problem: "text-only record (no \"image\") holds an <image> token")
                }
                var boxRecord: BoxRecord?
                if !record.isTextOnly, let boxes {
                    do {
                        let found = try boxes.record(for: record.id)
                        try found.validate()
                        boxRecord = found
                    } catch let error as BoxRecordError {
                        throw DataError.badSample(id: record.id, index: index, problem: error.description)
                    } catch let error as DataError {
                        throw DataError.badSample(id: record.id, index: index, problem: error.description)
                    }
                }
                guard encoding.hasSupervisedTokens else { unsupervised += 1; continue }
                kept.append(record)
                keptEncoded.append(encoding)
                keptBoxes.append(boxRecord)
            } catch let DataError.badSample(id, _, problem) where onBadSample == .skip {
                skipped.append(SkippedSample(id: id, reason: problem))
            }
        }
        records = kept
        encoded = keptEncoded
        boxRecords = keptBoxes
        skippedList = skipped
        droppedUnsupervised = unsupervised
        self.imageFolder = imageFolder
        self.boxes = boxes
        self.processor = processor
        var config = boxConfig
        config.maxLength = maxLength
        self.boxConfig = config
        self.onBadSample = onBadSample
    }

    public var count: Int { records.count }

    /// Text token counts (`len(input_ids)`, the image as one placeholder), upstream's `length` column.
    public var lengths: [Int] { encoded.map { $0.inputIds.count } }

    /// Upstream's `modality_length`: the length, negated for text-only samples, so that the length-grouped sampler
    /// can keep image and text-only samples in separate megabatches.
    public var modalityLengths: [Int] {
        zip(records, encoded).map { record, encoding in
            record.isTextOnly ? -encoding.inputIds.count : encoding.inputIds.count
        }
    }

    /// Samples skipped so far (at init and by `sample(at:)`), with reasons. Safe to read from any thread.
    public var skipped: [SkippedSample] {
        lock.lock(); defer { lock.unlock() }
        return skippedList
    }

    /// The encoded conversation of sample `index` without touching its image.
    public func encoding(at index: Int) -> EncodedConversation { encoded[index] }

    /// Sample `index` ready for the model. Text-only samples carry no pixels and no boxes. Returns nil only under
    /// `.skip`, when the image is missing or undecodable or the box pipeline rejects it; may be called from
    /// several threads at once.
    public func sample(at index: Int) throws -> MultimodalSample? {
        guard records.indices.contains(index) else {
            throw DataError.invalidConfiguration("sample index \(index) is outside 0..<\(records.count)")
        }
        let record = records[index]
        let encoding = encoded[index]
        guard let imagePath = record.image else {
            return MultimodalSample(inputIds: encoding.inputIds, labels: encoding.labels)
        }
        do {
            let url = imageFolder.appendingPathComponent(imagePath)
            let image: RGBImage
            do {
                image = try ImageDecoder.decode(contentsOf: url)
            } catch {
                throw DataError.badSample(id: record.id, index: index, problem: "image: \(error)")
            }
            let visual: VisualInputs
            do {
                visual = try VisualInputs.prepare(
                    image, boxes: boxRecords[index], textLength: encoding.inputIds.count,
                    processor: processor, boxConfig: boxConfig)
            } catch {
                throw DataError.badSample(id: record.id, index: index, problem: "boxes: \(error)")
            }
            return MultimodalSample(
                inputIds: encoding.inputIds, labels: encoding.labels, pixelValues: visual.pixelValues,
                pixelValuesAux: visual.pixelValuesAux, boxes: visual.boxes)
        } catch let DataError.badSample(id, _, problem) where onBadSample == .skip {
            lock.lock()
            skippedList.append(SkippedSample(id: id, reason: problem))
            lock.unlock()
            return nil
        }
    }
}
