// MGEval — the text of box records, written by hand so the keys come in upstream's order (id, boxes, scores,
// labels) with Python `json.dump`'s default separators, and scores as upstream writes them: its scores are float32
// values turned into Python floats (`.tolist()`), whose `repr` is the shortest text that reads back as the same
// double — Swift's `Double.description` of the Float widened, which JSONEncoder does not promise. Parsed, the file
// equals upstream's value for value.
import Foundation
import MGData
import MGJSON

/// One image's detections for one id, as the box JSON stores them.
struct GeneratedBoxes: Equatable {
    var id: BoxRecordID
    var boxes: [[Int]]
    var scores: [Float]
    var labels: [String]

    /// `BoxRecord.validate` before writing (lengths, four coordinates, no inverted box, finite scores), so the
    /// final file always loads with `BoxIndex`; a non-finite score would not even be JSON.
    init(id: BoxRecordID, detections: [DetectedBox]) throws {
        self.id = id
        boxes = detections.map(\.box)
        scores = detections.map(\.score)
        labels = detections.map(\.label)
        try BoxRecord(
            id: id, boxes: boxes.map { $0.map(Double.init) }, labels: labels, scores: scores.map(Double.init)
        ).validate()
    }

    init(id: BoxRecordID, boxes: [[Int]], scores: [Float], labels: [String]) {
        self.id = id
        self.boxes = boxes
        self.scores = scores
        self.labels = labels
    }

    /// `{"id": …, "boxes": […], "scores": […], "labels": […]}`.
    var json: String {
        let boxText = boxes.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" }
        return "{\"id\": \(BoxGenerationJSON.id(id)), \"boxes\": [\(boxText.joined(separator: ", "))], "
            + "\"scores\": [\(scores.map { Double($0).description }.joined(separator: ", "))], "
            + "\"labels\": [\(labels.map(BoxGenerationJSON.string).joined(separator: ", "))]}"
    }
}

/// JSON text pieces shared by the log and the final file.
enum BoxGenerationJSON {
    static func id(_ id: BoxRecordID) -> String {
        switch id {
        case .int(let value): return String(value)
        case .string(let value): return string(value)
        }
    }

    /// A JSON string literal; UTF-8 kept as is, control characters escaped.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The final box JSON: a list, one record per line so large files stay diffable.
    static func file(_ records: [GeneratedBoxes]) -> String {
        records.isEmpty ? "[]\n" : "[\n" + records.map(\.json).joined(separator: ",\n") + "\n]\n"
    }

    /// Reads back one record line; nil when the line is not a complete record (a torn write).
    static func record(_ value: JSONValue) -> GeneratedBoxes? {
        guard let members = value.members, let id = id(in: members),
            let boxes = members.last(where: { $0.key == "boxes" })?.value.array,
            let scores = members.last(where: { $0.key == "scores" })?.value.array,
            let labels = members.last(where: { $0.key == "labels" })?.value.array
        else { return nil }
        var boxList: [[Int]] = []
        for box in boxes {
            guard let numbers = box.array else { return nil }
            let ints = numbers.compactMap(\.int)
            guard ints.count == numbers.count else { return nil }
            boxList.append(ints)
        }
        let scoreList = scores.compactMap(\.double).map(Float.init)
        let labelList = labels.compactMap(\.string)
        guard scoreList.count == scores.count, labelList.count == labels.count else { return nil }
        return GeneratedBoxes(id: id, boxes: boxList, scores: scoreList, labels: labelList)
    }

    static func id(in members: [JSONMember]) -> BoxRecordID? {
        switch members.last(where: { $0.key == "id" })?.value {
        case .string(let text)?: return .string(text)
        case .number(_, let integer?)?: return .int(integer)
        default: return nil
        }
    }
}
