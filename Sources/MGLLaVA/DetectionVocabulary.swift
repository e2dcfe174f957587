import Foundation

extension DetectionQueries {
    /// The tags used when none are given: the 80 COCO category names. A stand-in for upstream's per-image RAM++
    /// tags (see docs/boxes.md): RAM's 4,585-tag list can be given with `--queries-file`.
    public static let defaultTags: [String] = [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
        "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
        "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
        "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
        "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
        "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
        "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
        "hair drier", "toothbrush"
    ]

    /// Tags from text as upstream reads RAM++'s output (`res.replace(' |', ',').lower().strip().split(',')`, each
    /// stripped), also accepting one tag per line (RAM's tag-list files); empty entries are dropped.
    public static func parseTags(_ text: String) -> [String] {
        text.replacingOccurrences(of: " |", with: ",").lowercased()
            .split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// Tags from a file (`--queries-file`): comma-separated or one per line, UTF-8. Errors name the file.
    public static func loadTags(contentsOf url: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DetectorError("queries file \(url.path): cannot be read (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DetectorError("queries file \(url.path): not UTF-8 text")
        }
        let tags = parseTags(text)
        guard !tags.isEmpty else { throw DetectorError("queries file \(url.path): holds no tags") }
        return tags
    }
}
