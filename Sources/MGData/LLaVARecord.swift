import Foundation

/// One record of a LLaVA-style conversation JSON (SPEC §4.1).
public struct LLaVARecord: Equatable, Sendable {
    /// `str(id)`: ints become their decimal text, as upstream converts them.
    public var id: String
    /// Path relative to the image folder; nil for a text-only record (no `image`, usually with a `model` key).
    public var image: String?
    public var conversations: [ConversationMessage]

    /// Ids used by more than one of `records`, each once, in order of first repetition. Compared as UTF-8 bytes.
    public static func duplicateIDs(_ records: [LLaVARecord]) -> [String] {
        var seen = Set<[UInt8]>(), reported = Set<[UInt8]>(), out: [String] = []
        for record in records {
            let key = Array(record.id.utf8)
            if !seen.insert(key).inserted && reported.insert(key).inserted { out.append(record.id) }
        }
        return out
    }

    public init(id: String, image: String?, conversations: [ConversationMessage]) {
        self.id = id
        self.image = image
        self.conversations = conversations
    }

    public var isTextOnly: Bool { image == nil }

    /// Reads a JSON file holding a list of records.
    public static func load(contentsOf url: URL) throws -> [LLaVARecord] {
        try records(from: JSONText.parse(contentsOf: url), file: url.path)
    }

    /// Parses file bytes; `file` names them in errors.
    public static func decode(_ data: Data, file: String = "<data>") throws -> [LLaVARecord] {
        try records(from: JSONText.parse(data, file: file), file: file)
    }

    // MARK: - Field checks

    static func records(from json: Any, file: String) throws -> [LLaVARecord] {
        guard let list = json as? [Any] else {
            throw DataError.invalidRecord(
                file: file, index: -1, id: nil,
                problem: "the top level is \(typeName(json)), expected a list of records")
        }
        return try list.enumerated().map { index, item in try record(item, index: index, file: file) }
    }

    private static func record(_ item: Any, index: Int, file: String) throws -> LLaVARecord {
        func fail(_ id: String?, _ problem: String) -> DataError {
            DataError.invalidRecord(file: file, index: index, id: id, problem: problem)
        }
        guard let dict = item as? [String: Any] else { throw fail(nil, "is \(typeName(item)), expected an object") }
        guard let rawID = dict["id"] else { throw fail(nil, "\"id\" is missing") }
        guard let id = idString(rawID) else {
            throw fail(nil, "\"id\" is \(typeName(rawID)) \(rawID), expected a string or an integer")
        }
        var image: String?
        if let rawImage = dict["image"], !(rawImage is NSNull) {
            guard let path = rawImage as? String else {
                throw fail(id, "\"image\" is \(typeName(rawImage)), expected a string (a path under the image folder)")
            }
            // Upstream fills `image=''` into text-only records; an empty path means "no image" there too.
            image = path.isEmpty ? nil : path
        }
        guard let rawConversations = dict["conversations"] else { throw fail(id, "\"conversations\" is missing") }
        guard let turns = rawConversations as? [Any] else {
            throw fail(id, "\"conversations\" is \(typeName(rawConversations)), expected a list")
        }
        var messages: [ConversationMessage] = []
        for (t, turn) in turns.enumerated() {
            guard let message = turn as? [String: Any] else {
                throw fail(id, "conversations[\(t)] is \(typeName(turn)), expected an object {from, value}")
            }
            var fields: [String] = []
            for key in ["from", "value"] {
                guard let value = message[key] else { throw fail(id, "conversations[\(t)].\(key) is missing") }
                guard let text = value as? String else {
                    throw fail(id, "conversations[\(t)].\(key) is \(typeName(value)), expected a string")
                }
                fields.append(text)
            }
            messages.append(ConversationMessage(from: fields[0], value: fields[1]))
        }
        return LLaVARecord(id: id, image: image, conversations: messages)
    }

    /// Strings and integers only: Python's `str()` of a float or bool would be a surprising key for the box table.
    private static func idString(_ value: Any) -> String? {
        if let text = value as? String { return text }
        guard let number = value as? NSNumber, !isBool(number) else { return nil }
        let type = String(cString: number.objCType)
        guard type != "d", type != "f" else { return nil }
        return number.stringValue
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        // Foundation's JSON parser boxes true/false as a char-typed NSNumber.
        String(cString: number.objCType) == "c"
    }

    static func typeName(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case is String: return "a string"
        case let number as NSNumber: return isBool(number) ? "a boolean" : "a number"
        case is [Any]: return "a list"
        case is [String: Any]: return "an object"
        default: return "\(type(of: value))"
        }
    }
}
