// MGEval — the VQA answer normalisation of the EvalAI server, as MG-LLaVA applies it (SPEC §6.2): TextVQA's soft
// accuracy compares normalised answers, and the VQAv2 upload holds normalised answers. Followed:
// PhoenixZ810/MG-LLaVA `mg_llava/evaluation/m4c_evaluator.py` (`EvalAIAnswerProcessor`, identical to the vendored
// `xtuner/dataset/evaluation/textvqa_utils.py` and to haotian-liu/LLaVA `llava/eval/m4c_evaluator.py`).
import Foundation

/// Python `str` operations the upstream scorers rely on, done on Unicode scalars. Python strings are sequences of
/// code points, while Swift's `String` compares and splits grapheme clusters ("\r\n" is one `Character`, and so
/// is "-" followed by a combining mark), so the scorers never use `Character`-level operations.
enum PyText {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ text: String) -> Scalars { Array(text.unicodeScalars) }

    static func string(_ scalars: Scalars) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// `str.isspace()`: the code points Python's argument-less `split()` and `strip()` treat as whitespace
    /// (checked against CPython 3.11: bidi classes WS/B/S plus category Zs).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `\d` of a Python `str` pattern: any code point of category Nd (so Arabic-Indic digits count too).
    static func isDigit(_ c: Unicode.Scalar) -> Bool { c.properties.generalCategory == .decimalNumber }

    /// `str.lower()`: the full Unicode lowercase mapping of each code point (as Swift's `lowercased()`), plus
    /// CPython's one context rule: a capital sigma preceded by a cased letter (case-ignorable code points in
    /// between) and not followed by one becomes the final form ς ("ΣΑΣ" → "σας", where `lowercased()` gives
    /// "σασ").
    static func lower(_ text: String) -> String {
        let source = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, c) in source.enumerated() {
            if c == "\u{3A3}" {
                out.append(isFinalSigma(source, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// CPython's `handle_capital_sigma`: `\p{cased} \p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased})`.
    private static func isFinalSigma(_ text: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && text[j].properties.isCased else { return false }
        j = i + 1
        while j < text.count && text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }

    /// `str.split()` without arguments: runs of whitespace separate, no empty words.
    static func split(_ text: Scalars) -> [Scalars] {
        var words: [Scalars] = []
        var current: Scalars = []
        for c in text {
            if isSpace(c) {
                if !current.isEmpty { words.append(current); current = [] }
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Python's string order (`sorted`): by code point, not by Swift's `String` comparison.
    static func codePointLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// `str.split()` of a `String`, as Strings.
    static func words(_ text: String) -> [String] { split(scalars(text)).map { string($0) } }

    /// `str.split(sep)` with a one-code-point separator: keeps empty pieces, n separators give n + 1 pieces.
    static func split(_ text: Scalars, separator: Unicode.Scalar) -> [Scalars] {
        var pieces: [Scalars] = [[]]
        for c in text {
            if c == separator { pieces.append([]) } else { pieces[pieces.count - 1].append(c) }
        }
        return pieces
    }

    /// `str.strip()` without arguments.
    static func strip(_ text: Scalars) -> Scalars {
        guard let first = text.firstIndex(where: { !isSpace($0) }),
            let last = text.lastIndex(where: { !isSpace($0) })
        else { return [] }
        return Array(text[first...last])
    }

    /// `needle in text` for a non-empty needle.
    static func contains(_ text: Scalars, _ needle: Scalars) -> Bool { firstMatch(text, needle, from: 0) != nil }

    /// `text.startswith(prefix)`.
    static func hasPrefix(_ text: Scalars, _ prefix: Scalars) -> Bool {
        text.count >= prefix.count && Array(text[0..<prefix.count]) == prefix
    }

    /// `text.replace(old, new)` for a non-empty `old`: non-overlapping occurrences, left to right.
    static func replace(_ text: Scalars, _ old: Scalars, _ new: Scalars) -> Scalars {
        guard !old.isEmpty else { return text }
        var result: Scalars = []
        result.reserveCapacity(text.count)
        var position = 0
        while let match = firstMatch(text, old, from: position) {
            result.append(contentsOf: text[position..<match])
            result.append(contentsOf: new)
            position = match + old.count
        }
        result.append(contentsOf: text[position...])
        return result
    }

    static func replace(_ text: Scalars, _ old: String, _ new: String) -> Scalars {
        replace(text, scalars(old), scalars(new))
    }

    /// Offset of the first occurrence of `needle` at or after `start`.
    static func firstMatch(_ text: Scalars, _ needle: Scalars, from start: Int) -> Int? {
        guard !needle.isEmpty, text.count >= needle.count, start <= text.count - needle.count else { return nil }
        var i = start
        while i <= text.count - needle.count {
            if text[i] == needle[0] {
                var j = 1
                while j < needle.count && text[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}

/// The punctuation step shared by the VQA normaliser and the yes/no extraction (upstream has two copies that differ
/// only in the comma test).
enum VQAPunctuation {
    /// Removed (or turned into spaces) one after the other, in this order. No '.', ':', "'" or '*'.
    static let marks: [String] = [
        ";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<",
        "@", "`", ",", "?", "!"
    ]

    /// Which "comma between digits" test switches every mark to deletion.
    enum CommaTest {
        /// EvalAI's `(?<=\d)(\,)+(?=\d)`: a run of commas with a digit on each side ("1,,2" counts).
        case commaRunBetweenDigits
        /// xtuner `utils.py`'s `(\d)(,)(\d)`: exactly one comma with a digit on each side.
        case singleCommaBetweenDigits
    }

    /// Upstream's `process_punctuation`: for each mark in order, delete it everywhere when the *input* text has
    /// that mark followed or preceded by a space, or has a comma between digits; otherwise replace it with a space.
    /// Then the period rule (`stripPeriods`).
    static func process(_ text: PyText.Scalars, commaTest: CommaTest) -> PyText.Scalars {
        let commaBetweenDigits = hasCommaBetweenDigits(text, commaTest)
        let space: PyText.Scalars = [" "]
        var out = text
        for mark in marks {
            let m = PyText.scalars(mark)
            if PyText.contains(text, m + space) || PyText.contains(text, space + m) || commaBetweenDigits {
                out = PyText.replace(out, m, [])
            } else {
                out = PyText.replace(out, m, space)
            }
        }
        return stripPeriods(out)
    }

    /// Upstream's `PERIOD_STRIP.sub("", text, re.UNICODE)` with the pattern `(?!<=\d)(\.)(?!\d)`. Two quirks are
    /// kept: `(?!<=\d)` is a look-ahead (a typo for a look-behind) that never fails on a '.', so every period not
    /// followed by a digit goes ("3.5" keeps its point, "3." and "a.b" lose theirs); and `re.UNICODE` (= 32)
    /// lands in the `count` parameter, so only the first 32 such periods are removed. The look-ahead sees the text
    /// before any removal, as a regex substitution does ("1..5" → "1.5").
    static func stripPeriods(_ text: PyText.Scalars, limit: Int = 32) -> PyText.Scalars {
        var out: PyText.Scalars = []
        out.reserveCapacity(text.count)
        var removed = 0
        for (i, c) in text.enumerated() {
            if c == ".", removed < limit, !(i + 1 < text.count && PyText.isDigit(text[i + 1])) {
                removed += 1
                continue
            }
            out.append(c)
        }
        return out
    }

    static func hasCommaBetweenDigits(_ text: PyText.Scalars, _ test: CommaTest) -> Bool {
        var i = 1
        while i < text.count {
            if text[i] == ",", PyText.isDigit(text[i - 1]) {
                var end = i + 1
                if test == .commaRunBetweenDigits {
                    while end < text.count && text[end] == "," { end += 1 }
                }
                if end < text.count && PyText.isDigit(text[end]) { return true }
            }
            i += 1
        }
        return false
    }
}

/// EvalAI's answer normalisation (`EvalAIAnswerProcessor.__call__`), step for step:
/// 1. `word_tokenize`: lower-case; delete every ',' and '?'; "'s" → " 's"; strip whitespace.
/// 2. '\n' and '\t' → ' '; strip again.
/// 3. `process_punctuation` (see `VQAPunctuation.process`, with the comma-run test; the commas are already gone
///    after step 1, so in practice a mark next to a space is deleted and any other becomes a space), then the
///    period rule.
/// 4. `process_digit_article`: lower-case, split on whitespace; each word through the number map ("none"/"zero"
///    → "0" … "ten" → "10"); the articles "a", "an", "the" dropped (after the number map); each remaining word
///    through the contractions map ("dont" → "don't"); joined with single spaces.
/// Upstream's `NUMBER_MAP.setdefault` also inserts every unknown word into the class-level map, mapping it to
/// itself; that changes no result and is not reproduced.
public enum EvalAIAnswerProcessor {
    /// Upstream's `CONTRACTIONS`, verbatim (its capitalised keys "Id've", "Im", "Ive", "I'dve" can never match
    /// lower-cased text, and "somebody'd" maps to "somebodyd"; both kept as they are).
    public static let contractions: [String: String] = [
        "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
        "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
        "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
        "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
        "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
        "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
        "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
        "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
        "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
        "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's",
        "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've",
        "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd", "somebodyd've": "somebody'd've",
        "somebody'dve": "somebody'd've", "somebodyll": "somebody'll", "somebodys": "somebody's",
        "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
        "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
        "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
        "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
        "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
        "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas",
        "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't",
        "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
        "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
        "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
        "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't",
        "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll",
        "y'allll": "y'all'll", "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
        "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're",
        "youve": "you've"
    ]

    /// Upstream's `NUMBER_MAP`: only the number words up to ten, plus "none".
    public static let numberMap: [String: String] = [
        "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
        "seven": "7", "eight": "8", "nine": "9", "ten": "10"
    ]

    public static let articles: Set<String> = ["a", "an", "the"]

    /// The normalised answer (what EvalAI compares and what the VQAv2 upload holds).
    public static func normalize(_ answer: String) -> String {
        var text = wordTokenize(answer)
        text = PyText.replace(text, "\n", " ")
        text = PyText.replace(text, "\t", " ")
        text = PyText.strip(text)
        text = VQAPunctuation.process(text, commaTest: .commaRunBetweenDigits)
        return processDigitArticle(PyText.string(text))
    }

    /// Step 1 (`word_tokenize`).
    static func wordTokenize(_ answer: String) -> PyText.Scalars {
        var text = PyText.scalars(PyText.lower(answer))
        text = PyText.replace(text, ",", "")
        text = PyText.replace(text, "?", "")
        text = PyText.replace(text, "'s", " 's")
        return PyText.strip(text)
    }

    /// Step 4 (`process_digit_article`).
    static func processDigitArticle(_ text: String) -> String {
        let words = PyText.words(PyText.lower(text))
            .map { numberMap[$0] ?? $0 }
            .filter { !articles.contains($0) }
            .map { contractions[$0] ?? $0 }
        return words.joined(separator: " ")
    }
}
