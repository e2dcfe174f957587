// MGData — the pre-tokenised dataset folder (SPEC §4.4): upstream's `process_untokenized_llava_data` saves an
// HF `datasets` folder with the original columns plus `input_ids`, `labels` and `length`, and a config's
// `offline_processed_text_folder` then skips tokenisation. Ours holds the same columns as JSON lines, with a
// header recording what the encoding depended on, so a stale cache is refused instead of silently used.
import Foundation

/// A pre-tokenised copy of a conversation file (`mgllava data process`, upstream's
/// `offline_processed_text_folder`): `meta.json` says how it was encoded, `records.jsonl` holds ids and labels.
public enum ProcessedTextCache {
    public static let metaFile = "meta.json"
    public static let recordsFile = "records.jsonl"
    public static let format = "mgllava-processed-text"
    public static let version = 1

    /// What an encoding depends on; a cache is only used when all of it matches the run.
    public struct Meta: Codable, Equatable, Sendable {
        public var format = ProcessedTextCache.format
        public var version = ProcessedTextCache.version
        /// The conversation JSON it was built from (for the reader's information).
        public var dataPath: String
        public var template: String
        public var maxLength: Int
        /// `len(tokenizer)` and its BOS/EOS ids: a different tokenizer gives different ids.
        public var vocabSize: Int
        public var bosTokenId: Int?
        public var eosTokenId: Int?
        public var records: Int
        /// Records that could not be encoded (written only under `--on-bad-sample skip`).
        public var skipped: Int

        enum CodingKeys: String, CodingKey {
            case format, version, template, records, skipped
            case dataPath = "data_path"
            case maxLength = "max_length"
            case vocabSize = "vocab_size"
            case bosTokenId = "bos_token_id"
            case eosTokenId = "eos_token_id"
        }
    }

    /// Encodes `records` and writes the folder atomically (a temp folder renamed into place). Records that fail to
    /// encode throw under `.fail` and are left out (and counted) under `.skip`. Returns the header written.
    @discardableResult
    public static func write(
        records: [LLaVARecord], dataPath: String, tokenizer: Tokenizer, template: PromptTemplate,
        maxLength: Int, onBadSample: BadSamplePolicy = .fail, to folder: URL
    ) throws -> Meta {
        var lines: [String] = []
        var skipped = 0
        for (index, record) in records.enumerated() {
            let encoding: EncodedConversation
            do {
                encoding = try ConversationEncoder.encode(
                    record.conversations, template: template, tokenizer: tokenizer,
                    maxLength: maxLength, sample: record.id)
            } catch let error as ConversationError {
                if case .missingSpecialToken = error { throw error }
                if onBadSample == .skip { skipped += 1; continue }
                throw DataError.badSample(id: record.id, index: index, problem: error.description)
            }
            var object: [String: Any] = [
                "id": record.id,
                "conversations": record.conversations.map { ["from": $0.from, "value": $0.value] },
                "input_ids": encoding.inputIds, "labels": encoding.labels, "length": encoding.inputIds.count
            ]
            if let image = record.image { object["image"] = image }
            let data = try JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            lines.append(String(decoding: data, as: UTF8.self))
        }
        let meta = Meta(
            dataPath: dataPath, template: template.name, maxLength: maxLength, vocabSize: tokenizer.vocabSize,
            bosTokenId: tokenizer.bosTokenId, eosTokenId: tokenizer.eosTokenId, records: lines.count,
            skipped: skipped)
        let fm = FileManager.default
        let parent = folder.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let temp = parent.appendingPathComponent(".\(folder.lastPathComponent).tmp-\(UUID().uuidString)")
        try fm.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
            try Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8)
                .write(to: temp.appendingPathComponent(recordsFile))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(meta).write(to: temp.appendingPathComponent(metaFile))
            if fm.fileExists(atPath: folder.path) { try fm.removeItem(at: folder) }
            try fm.moveItem(at: temp, to: folder)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
        return meta
    }

    /// Reads a folder written by `write`, checking it was encoded the way this run would encode: same template,
    /// `max_length` and tokenizer (vocabulary size, BOS, EOS). Every line is validated (ids in the vocabulary or the
    /// image slot, labels −100 or equal to the id) and a problem names the file and line.
    public static func load(
        _ folder: URL, template: PromptTemplate, maxLength: Int, tokenizer: Tokenizer
    ) throws
        -> (meta: Meta, records: [LLaVARecord], encodings: [EncodedConversation])
    {
        let metaURL = folder.appendingPathComponent(metaFile)
        let metaData: Data
        do { metaData = try Data(contentsOf: metaURL) } catch {
            throw DataError.unreadable(
                file: metaURL.path,
                detail: "\(DataError.plainReason(error)) (a processed text "
                    + "folder, written by `mgllava data process`, holds \(metaFile))")
        }
        let meta: Meta
        do { meta = try JSONDecoder().decode(Meta.self, from: metaData) } catch {
            throw DataError.unreadable(
                file: metaURL.path,
                detail: "not a processed text folder's \(metaFile) "
                    + "(\(DataError.plainReason(error)))")
        }
        guard meta.format == format, meta.version == version else {
            throw DataError.unreadable(
                file: metaURL.path, detail: "format \(meta.format) v\(meta.version), expected \(format) v\(version)")
        }
        var mismatches: [String] = []
        if meta.template != template.name { mismatches.append("template \(meta.template) ≠ \(template.name)") }
        if meta.maxLength != maxLength { mismatches.append("max_length \(meta.maxLength) ≠ \(maxLength)") }
        if meta.vocabSize != tokenizer.vocabSize || meta.bosTokenId != tokenizer.bosTokenId
            || meta.eosTokenId != tokenizer.eosTokenId
        {
            mismatches.append(
                "tokenizer (vocab_size \(meta.vocabSize), bos \(meta.bosTokenId.map(String.init) ?? "none"), "
                    + "eos \(meta.eosTokenId.map(String.init) ?? "none")) ≠ this run's (\(tokenizer.vocabSize), "
                    + "\(tokenizer.bosTokenId.map(String.init) ?? "none"), \(tokenizer.eosTokenId.map(String.init) ?? "none"))"
            )
        }
        guard mismatches.isEmpty else {
            throw DataError.invalidConfiguration(
                "\(folder.path) was processed differently: "
                    + mismatches.joined(separator: "; ") + " — run `mgllava data process` again")
        }
        let url = folder.appendingPathComponent(recordsFile)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError.unreadable(file: url.path, detail: DataError.plainReason(error))
        }
        var records: [LLaVARecord] = [], encodings: [EncodedConversation] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).enumerated() {
            func bad(_ problem: String) -> DataError {
                .invalidRecord(file: url.path, index: i, id: nil, problem: "line \(i + 1): \(problem)")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw bad("not a JSON object")
            }
            guard let id = object["id"] as? String else { throw bad("\"id\" must be a string") }
            guard let messages = object["conversations"] as? [[String: Any]] else {
                throw bad("\"conversations\" must be a list")
            }
            let conversations = try messages.map { m -> ConversationMessage in
                guard let from = m["from"] as? String, let value = m["value"] as? String else {
                    throw bad("each message needs string \"from\" and \"value\"")
                }
                return ConversationMessage(from: from, value: value)
            }
            guard let ids = object["input_ids"] as? [Int], let labels = object["labels"] as? [Int] else {
                throw bad("\"input_ids\" and \"labels\" must be integer lists")
            }
            guard ids.count == labels.count, ids.count <= maxLength else {
                throw bad("\(ids.count) input_ids, \(labels.count) labels (max_length \(maxLength))")
            }
            for (t, (token, label)) in zip(ids, labels).enumerated() {
                let validToken =
                    token == ConversationEncoder.imageTokenIndex || (0..<tokenizer.vocabSize).contains(token)
                guard validToken, label == ConversationEncoder.ignoreIndex || label == token else {
                    throw bad("position \(t): input id \(token), label \(label)")
                }
            }
            if let image = object["image"], !(image is String) { throw bad("\"image\" must be a string") }
            records.append(LLaVARecord(id: id, image: object["image"] as? String, conversations: conversations))
            encodings.append(EncodedConversation(inputIds: ids, labels: labels))
        }
        guard records.count == meta.records else {
            throw DataError.unreadable(
                file: url.path, detail: "\(records.count) records, meta.json says \(meta.records) (truncated?)")
        }
        return (meta, records, encodings)
    }
}
