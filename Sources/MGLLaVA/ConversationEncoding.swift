import Foundation
import MGTokenizers

// XTuner's training-time text pipeline as MG-LLaVA uses it (SPEC §2.3): `llava_map_fn` → `template_map_fn` →
// `encode_fn(with_image_token=True)`. Every piece — the text before and after `<image>`, each answer, each
// separator — is tokenised on its own, because SentencePiece tokenisers give a piece a leading "▁" of its own.

/// What the conversation encoder needs from a tokenizer.
public protocol ConversationTokenizer {
    /// Ids for `text`, without BOS/EOS (`add_special_tokens=False`).
    func encodeWithoutSpecialTokens(_ text: String) -> [Int]
    var bosTokenId: Int? { get }
    var eosTokenId: Int? { get }
}

/// Why a conversation record cannot be encoded, naming the sample and the turn.
public enum ConversationError: Error, Equatable, CustomStringConvertible {
    case unknownRole(sample: String, turn: Int, role: String)
    case multipleImages(sample: String, turn: Int, count: Int)
    case missingSpecialToken(name: String)

    public var description: String {
        switch self {
        case .unknownRole(let sample, let turn, let role):
            return "sample \(sample): conversations[\(turn)].from is \"\(role)\" (expected \"human\" or \"gpt\")"
        case .multipleImages(let sample, let turn, let count):
            return "sample \(sample): a turn holds \(count) <image> tokens after template formatting (turn \(turn)); "
                + "MG-LLaVA supports one image per sample"
        case .missingSpecialToken(let name):
            return "the tokenizer has no \(name) token, which this prompt template needs"
        }
    }
}

/// One message of a LLaVA conversation record (`from`: human or gpt; `value`: the text).
public struct ConversationMessage: Sendable, Equatable, Codable {
    public var from: String
    public var value: String
    public init(from: String, value: String) { self.from = from; self.value = value }
}

/// One question/answer pair after `llava_map_fn`.
public struct ConversationTurn: Sendable, Equatable {
    public var input: String
    public var output: String
    public var system: String

    public init(input: String, output: String, system: String = "") {
        self.input = input
        self.output = output
        self.system = system
    }
}

/// One turn after `template_map_fn`.
public struct TemplatedTurn: Sendable, Equatable {
    public var input: String
    public var output: String
    public var needEOSToken: Bool
    public var separator: String

    public init(input: String, output: String, needEOSToken: Bool, separator: String) {
        self.input = input
        self.output = output
        self.needEOSToken = needEOSToken
        self.separator = separator
    }
}

/// A conversation as training sees it: ids (−200 for the image) and labels (−100 where there is no loss).
public struct EncodedConversation: Sendable, Equatable {
    public var inputIds: [Int]
    public var labels: [Int]
    /// False when no label is supervised (≥ 0): such a sample must be dropped, as upstream does.
    public var hasSupervisedTokens: Bool { labels.contains { $0 >= 0 } }

    public init(inputIds: [Int], labels: [Int]) {
        self.inputIds = inputIds
        self.labels = labels
    }
}

/// XTuner's `llava_map_fn` → `template_map_fn` → `encode_fn` for MG-LLaVA's conversation records.
public enum ConversationEncoder {
    /// The ids one user turn of a chat adds: `message` in the template (with `system` when non-empty), preceded by
    /// BOS as training adds it — on the first turn, and on every turn of a template that ends answers with EOS
    /// (`need_eos_token`) — with the −200 slot for `<image>`. Pieces are encoded on their own, as `encode_fn`
    /// does. Throws `multipleImages` when the formatted turn holds more than one `<image>`.
    public static func turnIds(
        _ message: String, template: PromptTemplate, tokenizer: ConversationTokenizer,
        firstTurn: Bool, system: String = "", sample: String = "chat"
    ) throws -> [Int] {
        let formatted = template.formatInput(message, system: system)
        var ids: [Int] = []
        if firstTurn || !template.suffixAsEOS, let bos = tokenizer.bosTokenId { ids.append(bos) }
        let chunks = ByteText.components(formatted, separatedBy: imageToken)
        if chunks.count > 2 { throw ConversationError.multipleImages(sample: sample, turn: 0, count: chunks.count - 1) }
        for (i, chunk) in chunks.enumerated() {
            ids += tokenizer.encodeWithoutSpecialTokens(chunk)
            if i < chunks.count - 1 { ids.append(imageTokenIndex) }
        }
        return ids
    }

    public static let imageToken = "<image>"
    /// Placeholder id of the image in `input_ids` (replaced by the visual tokens in the model).
    public static let imageTokenIndex = -200
    public static let ignoreIndex = -100
    /// MG-LLaVA's `max_length` for text tokens.
    public static let defaultMaxLength = 1472

    /// `llava_map_fn`: drops leading gpt turns, rewrites a human turn holding `<image>` as "<image>\n" + stripped
    /// text, concatenates consecutive human turns, pairs each with the next gpt turn; a final human turn without
    /// an answer is dropped.
    public static func llavaMap(_ messages: [ConversationMessage], sample: String = "") throws -> [ConversationTurn] {
        var start = 0
        while start < messages.count && messages[start].from == "gpt" { start += 1 }
        var turns: [ConversationTurn] = []
        var input = ""
        for (i, message) in messages.enumerated().dropFirst(start) {
            switch message.from {
            case "human":
                var value = message.value
                // Bytes, as Python's `in` / `replace` see code points: Foundation's String search would miss the
                // token when a combining mark follows it.
                if ByteText.contains(value, imageToken) {
                    value = ByteText.replacingAll(imageToken, with: "", in: value).pythonStripped()
                    value = (imageToken + "\n" + value).pythonStripped()
                }
                input += value
            case "gpt":
                turns.append(ConversationTurn(input: input, output: message.value))
                input = ""
            default:
                throw ConversationError.unknownRole(sample: sample, turn: i, role: message.from)
            }
        }
        return turns
    }

    /// `template_map_fn`.
    public static func applyTemplate(_ turns: [ConversationTurn], template: PromptTemplate) -> [TemplatedTurn] {
        turns.map { turn in
            TemplatedTurn(
                input: template.formatInput(turn.input, system: turn.system),
                output: template.suffix.isEmpty ? turn.output : turn.output + template.suffix,
                needEOSToken: !template.suffixAsEOS, separator: template.separator)
        }
    }

    /// `encode_fn(with_image_token=True)`, then plain truncation of ids and labels to `maxLength`.
    public static func encode(
        _ turns: [TemplatedTurn], tokenizer: ConversationTokenizer,
        maxLength: Int = defaultMaxLength, sample: String = ""
    ) throws -> EncodedConversation {
        var ids: [Int] = [], labels: [Int] = []
        var needsBOS = true
        for (t, turn) in turns.enumerated() {
            var inputIds: [Int] = []
            let chunks = ByteText.components(turn.input, separatedBy: imageToken)
            if chunks.count > 2 {
                throw ConversationError.multipleImages(sample: sample, turn: t, count: chunks.count - 1)
            }
            for (c, chunk) in chunks.enumerated() {
                inputIds += tokenizer.encodeWithoutSpecialTokens(chunk)
                if c < chunks.count - 1 { inputIds.append(imageTokenIndex) }
            }
            if needsBOS {
                guard let bos = tokenizer.bosTokenId else { throw ConversationError.missingSpecialToken(name: "BOS") }
                ids.append(bos)
                labels.append(ignoreIndex)
            }
            ids += inputIds
            labels += [Int](repeating: ignoreIndex, count: inputIds.count)
            let output = tokenizer.encodeWithoutSpecialTokens(turn.output)
            ids += output
            labels += output
            if turn.needEOSToken {
                guard let eos = tokenizer.eosTokenId else { throw ConversationError.missingSpecialToken(name: "EOS") }
                needsBOS = true
                ids.append(eos)
                labels.append(eos)
            } else {
                needsBOS = false
            }
            if !turn.separator.isEmpty {
                let sep = tokenizer.encodeWithoutSpecialTokens(turn.separator)
                ids += sep
                labels += [Int](repeating: ignoreIndex, count: sep.count)
            }
        }
        if ids.count > maxLength {
            ids = Array(ids.prefix(maxLength))
            labels = Array(labels.prefix(maxLength))
        }
        return EncodedConversation(inputIds: ids, labels: labels)
    }

    /// The whole pipeline for one LLaVA-JSON sample.
    public static func encode(
        _ messages: [ConversationMessage], template: PromptTemplate, tokenizer: ConversationTokenizer,
        maxLength: Int = defaultMaxLength, sample: String = ""
    ) throws -> EncodedConversation {
        let turns = try llavaMap(messages, sample: sample)
        return try encode(
            applyTemplate(turns, template: template), tokenizer: tokenizer, maxLength: maxLength, sample: sample)
    }
}

extension String {
    /// Python's `str.strip()` with no argument: removes leading and trailing Unicode whitespace.
    public func pythonStripped() -> String {
        let scalars = Array(unicodeScalars)
        var lo = 0, hi = scalars.count
        while lo < hi && scalars[lo].isPythonWhitespace { lo += 1 }
        while hi > lo && scalars[hi - 1].isPythonWhitespace { hi -= 1 }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[lo..<hi])
        return String(view)
    }
}

extension Unicode.Scalar {
    /// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators \x1c–\x1f.
    var isPythonWhitespace: Bool {
        if (0x1C...0x1F).contains(value) { return true }
        return properties.isWhitespace
    }
}
