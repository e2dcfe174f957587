/// The request's `stop` strings over a growing answer, compared as UTF-8 bytes: text is released as soon as it
/// cannot be the start of a stop string; once one appears, the answer ends before it.
struct StopStringMatcher {
    private let stops: [[UInt8]]
    /// The answer so far (cut before the stop string once one appeared).
    private(set) var text: [UInt8] = []
    private var released = 0
    private(set) var stopped = false

    init(_ stops: [String]) { self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty } }

    /// Adds generated text; returns what may be shown now.
    mutating func feed(_ delta: String) -> String {
        guard !stopped else { return "" }
        let searchFrom = max(0, released - (stops.map(\.count).max() ?? 1) + 1)
        text += delta.utf8
        if let cut = firstStop(from: searchFrom) {
            text.removeSubrange(cut...)
            stopped = true
            return release(upTo: cut)
        }
        return release(upTo: max(released, text.count - heldBack()))
    }

    /// The held-back tail, at the end of generation (no stop string came).
    mutating func flush() -> String { release(upTo: text.count) }

    var answer: String { String(decoding: text, as: UTF8.self) }

    private mutating func release(upTo end: Int) -> String {
        defer { released = max(released, end) }
        return end > released ? String(decoding: text[released..<end], as: UTF8.self) : ""
    }

    /// The earliest index at or after `start` where a stop string begins.
    private func firstStop(from start: Int) -> Int? {
        var best: Int? = nil
        for stop in stops where stop.count <= text.count {
            var i = start
            while i + stop.count <= text.count, i < (best ?? Int.max) {
                if text[i..<(i + stop.count)].elementsEqual(stop) {
                    best = i
                    break
                }
                i += 1
            }
        }
        return best
    }

    /// The longest tail of the text that is a proper prefix of a stop string (it may still become one).
    private func heldBack() -> Int {
        var longest = 0
        for stop in stops {
            var k = min(stop.count - 1, text.count)
            while k > longest {
                if text[(text.count - k)...].elementsEqual(stop[0..<k]) {
                    longest = k
                    break
                }
                k -= 1
            }
        }
        return longest
    }
}
