import Foundation
import MGDetect

/// RAM++'s tag vocabulary: the tag names (`ram_tag_list.txt`, read as upstream's `f.read().splitlines()`) and each
/// tag's threshold (`ram_tag_list_threshold.txt`, one `float(line.strip())` per line).
public struct RAMTagVocabulary: Equatable, Sendable {
    /// Tag names in class order.
    public var tags: [String]
    /// sigmoid(logit) must exceed this for the tag to be predicted, per tag.
    public var thresholds: [Float]

    /// A vocabulary from its parts; the counts must be equal.
    public init(tags: [String], thresholds: [Float]) throws {
        guard tags.count == thresholds.count else {
            throw DetectorError("tag vocabulary: \(tags.count) tags but \(thresholds.count) thresholds")
        }
        self.tags = tags
        self.thresholds = thresholds
    }

    /// Reads the two files. Both must exist and agree in length (a threshold per tag): a mismatch names both files
    /// and both counts. A threshold that is not a number names its line.
    public static func load(tagList: URL, thresholds thresholdFile: URL) throws -> RAMTagVocabulary {
        let tags = splitLines(try readText(tagList, what: "tag list"))
        guard !tags.isEmpty else { throw DetectorError("tag list \(tagList.path): holds no tags") }
        var thresholds: [Float] = []
        // Python's text-mode iteration: universal newlines, so \r\n and \r end lines as \n does.
        let text = try readText(thresholdFile, what: "tag thresholds").replacingOccurrences(of: "\r\n", with: "\n")
            .replacingOccurrences(of: "\r", with: "\n")
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        for (number, line) in lines.enumerated() {
            let field = pythonStripped(line)
            guard let value = Double(field), value.isFinite else {
                throw DetectorError(
                    "tag thresholds \(thresholdFile.path), line \(number + 1): \"\(field)\" is not a number")
            }
            thresholds.append(Float(value))
        }
        guard thresholds.count == tags.count else {
            throw DetectorError(
                "tag thresholds \(thresholdFile.path) has \(thresholds.count) lines but tag list \(tagList.path) has "
                    + "\(tags.count) tags: they must be the same tag vocabulary (one threshold per tag)")
        }
        return try RAMTagVocabulary(tags: tags, thresholds: thresholds)
    }

    private static func readText(_ url: URL, what: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DetectorError("\(what) \(url.path): cannot be read (\(error.localizedDescription))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DetectorError("\(what) \(url.path): not UTF-8 text")
        }
        return text
    }

    /// Python's `str.splitlines()`: breaks at \n, \r, \r\n, \v, \f, \x1c–\x1e, \x85, U+2028, U+2029; no empty
    /// last line for a trailing break.
    static func splitLines(_ text: String) -> [String] {
        let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029]
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        var pending = scalars.next()
        while let scalar = pending {
            pending = scalars.next()
            if breaks.contains(scalar.value) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
                if scalar.value == 0x0D, pending?.value == 0x0A { pending = scalars.next() }
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }
}

/// Python's `str.strip()` with no argument: removes leading and trailing characters for which `str.isspace()` is
/// true (Unicode White_Space and the \x1c–\x1f separators).
func pythonStripped(_ text: String) -> String {
    func isSpace(_ s: Unicode.Scalar) -> Bool {
        s.properties.isWhitespace || (0x1C...0x1F).contains(s.value)
    }
    let scalars = Array(text.unicodeScalars)
    guard let first = scalars.firstIndex(where: { !isSpace($0) }),
        let last = scalars.lastIndex(where: { !isSpace($0) })
    else { return "" }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[first...last])
    return String(view)
}

extension DetectionQueries {
    /// Upstream's OWLv2 tags from a RAM++ tag string, exactly as `image_offline_to_bbox.py` makes them:
    /// `res.replace(' |', ',').lower().strip().split(',')`, then each stripped. Nothing is dropped: an image with
    /// no tag gives `[""]` (upstream then queries "a photo of ").
    public static func ramTags(_ tagString: String) -> [String] {
        // On Unicode scalars, as Python's str methods work (Swift's Character matching would not split a "," that
        // a combining mark follows).
        var replaced = String.UnicodeScalarView()
        let scalars = Array(tagString.unicodeScalars)
        var i = 0
        while i < scalars.count {
            if scalars[i] == " ", i + 1 < scalars.count, scalars[i + 1] == "|" {
                replaced.append(",")
                i += 2
            } else {
                replaced.append(scalars[i])
                i += 1
            }
        }
        let lowered = pythonStripped(String(replaced).lowercased())
        return lowered.unicodeScalars.split(separator: ",", omittingEmptySubsequences: false).map {
            var part = String.UnicodeScalarView()
            part.append(contentsOf: $0)
            return pythonStripped(String(part))
        }
    }
}
