import Foundation
import MGJSON

/// A sample id in the box JSON: the conversation record's id, an int or a string (SPEC §4.2).
public enum BoxRecordID: Hashable, Sendable, Codable, CustomStringConvertible {
    case int(Int)
    case string(String)

    /// `str(id)`: how training keys the box table (`{str(item['id']): item}`).
    public var key: String {
        switch self {
        case .int(let value): return String(value)
        case .string(let value): return value
        }
    }

    public var description: String { key }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }
}

/// One entry of the box JSON (SPEC §4.2): OWLv2 detections for one image, in pixels of the original, un-padded
/// image, xyxy. Coordinates are integers in the released files but may be floats; both are read as Double.
public struct BoxRecord: Equatable, Sendable, Codable {
    public var id: BoxRecordID
    public var boxes: [[Double]]
    public var labels: [String]
    public var scores: [Double]

    public init(id: BoxRecordID, boxes: [[Double]], labels: [String], scores: [Double]) {
        self.id = id
        self.boxes = boxes
        self.labels = labels
        self.scores = scores
    }

    /// Largest accepted |coordinate|: 2^24, beyond which float32 (the pipeline's precision) no longer holds every
    /// integer. Real coordinates are pixels of images limited to ~1.8e8 pixels.
    public static let maximumCoordinate: Double = 16_777_216

    /// Throws `BoxRecordError` for data the pipeline cannot use: lengths of `boxes`, `labels` and `scores` that
    /// differ, a box without exactly 4 numbers, a non-finite or out-of-range coordinate or score, or an inverted
    /// box (x2 < x1 or y2 < y1, i.e. negative width or height). Boxes partly or wholly outside the image are valid:
    /// the crop step clamps or drops them.
    public func validate() throws {
        guard boxes.count == labels.count, boxes.count == scores.count else {
            throw BoxRecordError(
                id: id, boxIndex: nil,
                problem: "\(boxes.count) boxes, \(labels.count) labels and \(scores.count) scores")
        }
        for (i, box) in boxes.enumerated() {
            guard box.count == 4 else {
                throw BoxRecordError(
                    id: id, boxIndex: i, problem: "\(box.count) numbers \(box), expected [x1, y1, x2, y2]")
            }
            for value in box where !(value.isFinite && abs(value) <= BoxRecord.maximumCoordinate) {
                throw BoxRecordError(
                    id: id, boxIndex: i, problem: "coordinate \(value) in \(box) is not a finite pixel position")
            }
            if box[2] < box[0] {
                throw BoxRecordError(
                    id: id, boxIndex: i, problem: "x2 \(box[2]) < x1 \(box[0]) in \(box) (negative width)")
            }
            if box[3] < box[1] {
                throw BoxRecordError(
                    id: id, boxIndex: i, problem: "y2 \(box[3]) < y1 \(box[1]) in \(box) (negative height)")
            }
            guard scores[i].isFinite else {
                throw BoxRecordError(id: id, boxIndex: i, problem: "score \(scores[i]) is not finite")
            }
        }
    }

    /// Boxes given by hand (`chat --box`, a server request's `boxes`), xyxy in original-image pixels, validated:
    /// each gets its own label (`box0`, `box1`, …) so that the per-label NMS never merges two of them, and
    /// scores 1, 1 − 1e-6, … so that score order is the order given.
    public static func manual(_ boxes: [[Double]], id: BoxRecordID = .string("manual")) throws -> BoxRecord {
        let record = BoxRecord(
            id: id, boxes: boxes, labels: boxes.indices.map { "box\($0)" },
            scores: boxes.indices.map { 1 - Double($0) * 1e-6 })
        try record.validate()
        return record
    }

    /// Indexes of the boxes that do not overlap a `width`×`height` image at all (they clip to nothing).
    public func boxesOutside(width: Int, height: Int) -> [Int] {
        boxes.indices.filter { i in
            let b = boxes[i]
            return b.count == 4 && (b[2] <= 0 || b[3] <= 0 || b[0] >= Double(width) || b[1] >= Double(height))
        }
    }

    /// Decodes a box JSON file: a list of records, or an object keyed by id whose records may omit `id`.
    /// Python's NaN/Infinity literals are accepted here so that `validate()` can name the offending box.
    /// Syntax errors (a trailing comma, which the JSON5 decoder would let through) throw `JSONSyntaxError`.
    public static func decodeFile(_ data: Data) throws -> [BoxRecord] {
        if let syntax = JSONSyntax.firstError(in: data, allowNonFinite: true) { throw syntax }
        let decoder = JSONDecoder()
        decoder.allowsJSON5 = true
        let firstToken = data.first { !(" \t\r\n" as String).utf8.contains($0) }
        if firstToken != UInt8(ascii: "{") { return try decoder.decode([BoxRecord].self, from: data) }
        let keyed = try decoder.decode([String: KeyedEntry].self, from: data)
        return keyed.sorted { $0.key < $1.key }.map { key, entry in
            BoxRecord(id: entry.id ?? .string(key), boxes: entry.boxes, labels: entry.labels, scores: entry.scores)
        }
    }

    private struct KeyedEntry: Decodable {
        var id: BoxRecordID?
        var boxes: [[Double]]
        var labels: [String]
        var scores: [Double]
    }
}

/// A box record the pipeline cannot use; names the sample, the box and the offending value.
public struct BoxRecordError: Error, Equatable, CustomStringConvertible {
    public let id: BoxRecordID
    /// The box concerned, or nil for record-level problems (length mismatch).
    public let boxIndex: Int?
    public let problem: String

    public var description: String {
        if let boxIndex { return "box record \(id): box \(boxIndex): \(problem)" }
        return "box record \(id): \(problem)"
    }
}
