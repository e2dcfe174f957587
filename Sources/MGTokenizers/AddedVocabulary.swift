/// A token matched in the raw text before the model runs (HF `AddedToken`): special tokens such as `<s>` or
/// `<|eot_id|>`, and user tokens such as `<|user|>`.
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int
    /// Only match when not inside a word (neighbours are not `\w`).
    public var singleWord: Bool
    /// Also take the whitespace on the left / right of the match (it disappears from the text).
    public var lstrip: Bool
    public var rstrip: Bool
    /// Match against the normalized text (after the normalizer) instead of the raw text.
    public var normalized: Bool
    /// Skipped by `decode(…, skipSpecialTokens: true)`.
    public var special: Bool

    public init(
        content: String, id: Int, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
        normalized: Bool = false, special: Bool = false
    ) {
        self.content = content
        self.id = id
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.special = special
    }

    /// Contents compare as bytes (two tokens may be canonically equivalent and still distinct).
    public static func == (a: AddedToken, b: AddedToken) -> Bool {
        a.content.utf8.elementsEqual(b.content.utf8) && a.id == b.id && a.singleWord == b.singleWord
            && a.lstrip == b.lstrip && a.rstrip == b.rstrip && a.normalized == b.normalized && a.special == b.special
    }
}

/// A piece of input after added tokens were cut out: text for the model, or an added token's id.
enum Segment {
    case text(Range<Int>)
    case token(Int32)
}

/// HF `AddedVocabulary`: finds added tokens leftmost-longest, applying single_word / lstrip / rstrip, first over the
/// raw text (tokens with normalized=false), then over each normalized text segment (normalized=true).
struct AddedVocabulary {
    private(set) var tokens: [AddedToken] = []
    private var indexByContent = ByteKeyedTable<Int>()
    private var indexById: [Int: Int] = [:]
    /// Contents ever added as special (HF never removes from this set).
    private var specialContents = ByteKeyedTable<Bool>()
    private var rawTrie = ByteTrie()
    private var normalizedTrie = ByteTrie()
    /// Normalized form of normalized=true tokens whose form differs (HF `normalized_cache`): it is what id → token
    /// and therefore decode return for them.
    private var normalizedForms: [Int: String] = [:]

    var isEmpty: Bool { tokens.isEmpty }

    /// HF `add_tokens`: empty content is ignored; an existing content keeps its id and takes the new flags.
    mutating func add(_ token: AddedToken) {
        guard !token.content.isEmpty else { return }
        var token = token
        if let index = indexByContent.value(for: token.content) {
            token.id = tokens[index].id
            tokens[index] = token
        } else {
            indexByContent.set(tokens.count, for: token.content)
            indexById[token.id] = tokens.count
            tokens.append(token)
        }
        if token.special { specialContents.set(true, for: token.content) }
    }

    /// Builds the matchers; normalized tokens are matched by their normalized form (as HF's normalized_cache).
    mutating func buildMatchers(normalizer: Normalizer?) {
        rawTrie = ByteTrie()
        normalizedTrie = ByteTrie()
        normalizedForms = [:]
        for (index, token) in tokens.enumerated() {
            if token.normalized {
                let content = Array(token.content.utf8)
                let form = normalizer?.apply(content) ?? content
                normalizedTrie.insert(form, value: Int32(index))
                if form != content { normalizedForms[index] = String(decoding: form, as: UTF8.self) }
            } else {
                rawTrie.insert(token.content.utf8, value: Int32(index))
            }
        }
    }

    var hasNormalizedTokens: Bool { !normalizedTrie.isEmpty }

    func index(ofContent content: String) -> Int? { indexByContent.value(for: content) }

    func token(forId id: Int) -> AddedToken? { indexById[id].map { tokens[$0] } }

    /// The text HF gives for an added token's id: its content, or its normalized form for normalized tokens.
    func text(forId id: Int) -> String? {
        guard let index = indexById[id] else { return nil }
        return normalizedForms[index] ?? tokens[index].content
    }

    func isSpecial(content: String) -> Bool { specialContents.value(for: content) ?? false }

    /// HF `find_matches` over `p[range]` with the raw or the normalized matcher.
    func split(_ p: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, normalized: Bool, into out: inout [Segment]) {
        let trie = normalized ? normalizedTrie : rawTrie
        if trie.isEmpty {
            if !range.isEmpty { out.append(.text(range)) }
            return
        }
        var startOffset = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard let match = trie.longestMatch(in: p, at: i, end: range.upperBound) else {
                i += 1
                continue
            }
            let token = tokens[Int(match.value)]
            var start = i, stop = i + match.length
            // The search resumes after the match even when the match is discarded or its stop moves (rstrip).
            i = stop
            if token.singleWord {
                let startSpace = start == range.lowerBound || !Self.endsWithWordCharacter(p, before: start)
                let stopSpace = stop == range.upperBound || !Self.startsWithWordCharacter(p, at: stop)
                if !(startSpace && stopSpace) { continue }
            }
            if token.lstrip {
                start = max(Self.whitespaceRunStart(p, before: start, from: range.lowerBound), startOffset)
            }
            if token.rstrip {
                stop = Self.whitespaceRunEnd(p, from: stop, to: range.upperBound)
            }
            if startOffset < start { out.append(.text(startOffset..<start)) }
            out.append(.token(Int32(token.id)))
            startOffset = stop
        }
        if startOffset < range.upperBound { out.append(.text(startOffset..<range.upperBound)) }
    }

    /// Start of the whitespace (`\s`) run that ends at `i`.
    private static func whitespaceRunStart(_ p: UnsafeBufferPointer<UInt8>, before i: Int, from lower: Int) -> Int {
        var j = i
        while j > lower {
            let k = scalarStart(before: j, in: p)
            guard UnicodeClasses.isWhitespace(scalarAt(p, k).value) else { break }
            j = k
        }
        return j
    }

    /// End of the whitespace run that starts at `i`.
    private static func whitespaceRunEnd(_ p: UnsafeBufferPointer<UInt8>, from i: Int, to upper: Int) -> Int {
        var j = i
        while j < upper {
            let (v, len) = scalarAt(p, j)
            guard UnicodeClasses.isWhitespace(v) else { break }
            j += len
        }
        return j
    }

    private static func endsWithWordCharacter(_ p: UnsafeBufferPointer<UInt8>, before i: Int) -> Bool {
        isWordCharacter(scalarAt(p, scalarStart(before: i, in: p)).value)
    }

    private static func startsWithWordCharacter(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        isWordCharacter(scalarAt(p, i).value)
    }

    /// Rust regex `\w`: Alphabetic, marks, decimal numbers, connector punctuation, join controls — with the
    /// Unicode 16.0 tables of the reference build, so characters assigned later (which a newer Swift runtime knows)
    /// do not count.
    private static func isWordCharacter(_ value: UInt32) -> Bool {
        guard let scalar = Unicode.Scalar(value) else { return false }
        let properties = scalar.properties
        guard let age = properties.age, age.major < 16 || (age.major == 16 && age.minor == 0) else { return false }
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
