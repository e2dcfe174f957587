import Foundation
import MGJSON

/// A `POST /v1/chat/completions` body as the OpenAI API and llama.cpp's server take it, checked field by field:
/// every error names the field (`messages[2].content[0].image_url.url`) and what was wrong with its value.
/// Fields the server does not use (`frequency_penalty`, `logprobs`, …) are ignored, as llama.cpp does; `null`
/// counts as absent.
public struct ChatCompletionRequest: Sendable {
    /// One turn of the conversation after the system prompt.
    public struct Turn: Equatable, Sendable {
        /// Who said it.
        public enum Role: String, Sendable { case user, assistant }
        public var role: Role
        /// Text parts joined with a line break.
        public var text: String
    }

    /// Where the conversation's image comes from.
    public enum ImageSource: Equatable, Sendable {
        /// Base64 text of an image file (from a `data:image/…;base64,` URI or given bare).
        case base64(String)
        /// A local file (`file://` under the server's `--media-path`).
        case file(URL)
    }

    public var model: String?
    /// System messages, joined with a line break ("" when none).
    public var system: String
    /// User and assistant turns, alternating, first and last from the user (consecutive messages of one role are
    /// joined with a line break).
    public var turns: [Turn]
    /// The image, wherever in the messages it came; MG-LLaVA places it before the first question.
    public var image: ImageSource?
    /// `boxes` (an mgllava extension): xyxy boxes in original-image pixels, used as `chat --box` uses them.
    public var boxes: [[Double]]?
    public var maxTokens: Int?
    public var temperature: Float?
    public var topP: Float?
    public var topK: Int?
    public var seed: UInt64?
    /// Strings that end the answer (not included in it).
    public var stop: [String]
    public var stream: Bool
    /// `stream_options.include_usage`: a last chunk carries `usage`.
    public var includeUsage: Bool

    /// Parses a request body. `mediaPath` is the only folder `file://` images may come from (nil: none may).
    public static func parse(_ body: Data, mediaPath: URL?) throws -> ChatCompletionRequest {
        let root: JSONValue
        do {
            root = try JSONValue.parse(body, maxDepth: 64)
        } catch let error as JSONParseError {
            throw APIError.badRequest("the body is not valid JSON: \(error.description)")
        }
        guard let members = root.members else { throw APIError.badRequest("the body must be a JSON object") }
        let fields = present(members)

        var request = ChatCompletionRequest(
            model: nil, system: "", turns: [], image: nil, boxes: nil, maxTokens: nil, temperature: nil, topP: nil,
            topK: nil, seed: nil, stop: [], stream: false, includeUsage: false)
        if let value = fields["model"] { request.model = try string(value, "model") }
        guard let messagesValue = fields["messages"] else {
            throw APIError.badRequest("messages: required (a list of {\"role\", \"content\"} objects)")
        }
        guard let messages = messagesValue.array, !messages.isEmpty else {
            throw APIError.badRequest("messages: must be a non-empty list, got \(describe(messagesValue))")
        }
        var systemParts: [String] = []
        for (index, message) in messages.enumerated() {
            let at = "messages[\(index)]"
            guard let messageMembers = message.members else {
                throw APIError.badRequest("\(at): must be an object, got \(describe(message))")
            }
            let m = present(messageMembers)
            guard let roleValue = m["role"] else { throw APIError.badRequest("\(at).role: required") }
            let role = try string(roleValue, "\(at).role")
            let (text, image) = try content(m["content"], at: "\(at).content", mediaPath: mediaPath)
            if let image {
                guard role == "user" else {
                    throw APIError.badRequest("\(at): an image in a \(role) message; images go in user messages")
                }
                if request.image != nil {
                    throw APIError.badRequest(
                        "\(at): a second image; MG-LLaVA answers about one image per conversation")
                }
                request.image = image
            }
            switch role {
            case "system", "developer":
                guard request.turns.isEmpty else {
                    throw APIError.badRequest("\(at): a system message after the conversation started")
                }
                systemParts.append(text)
            case "user", "assistant":
                let turnRole: Turn.Role = role == "user" ? .user : .assistant
                if request.turns.isEmpty && turnRole == .assistant {
                    throw APIError.badRequest("\(at): the conversation must start with a user message")
                }
                if let last = request.turns.last, last.role == turnRole {
                    request.turns[request.turns.count - 1].text += "\n" + text
                } else {
                    request.turns.append(Turn(role: turnRole, text: text))
                }
            default:
                throw APIError.badRequest(
                    "\(at).role: unknown role \"\(role)\" (system, developer, user and assistant are known)")
            }
        }
        guard request.turns.last?.role == .user else {
            throw APIError.badRequest("messages: the last message must be from the user")
        }
        request.system = systemParts.joined(separator: "\n")

        if let value = fields["max_completion_tokens"] ?? fields["max_tokens"] {
            let key = fields["max_completion_tokens"] != nil ? "max_completion_tokens" : "max_tokens"
            guard let n = value.int, n >= 1 else {
                throw APIError.badRequest("\(key): must be an integer ≥ 1, got \(describe(value))")
            }
            request.maxTokens = n
        }
        if let value = fields["temperature"] {
            guard let t = value.double, t.isFinite, t >= 0 else {
                throw APIError.badRequest("temperature: must be a number ≥ 0 (0 = greedy), got \(describe(value))")
            }
            request.temperature = Float(t)
        }
        if let value = fields["top_p"] {
            guard let p = value.double, p > 0, p <= 1 else {
                throw APIError.badRequest("top_p: must be a number in (0, 1], got \(describe(value))")
            }
            request.topP = Float(p)
        }
        if let value = fields["top_k"] {
            guard let k = value.int, k >= 0 else {
                throw APIError.badRequest("top_k: must be an integer ≥ 0 (0 = off), got \(describe(value))")
            }
            request.topK = k
        }
        if let value = fields["seed"] {
            guard let seed = value.int else {
                throw APIError.badRequest("seed: must be an integer, got \(describe(value))")
            }
            request.seed = UInt64(bitPattern: Int64(seed))
        }
        if let value = fields["n"], value.int != 1 {
            throw APIError.badRequest("n: only 1 choice per request is supported, got \(describe(value))")
        }
        if let value = fields["stop"] {
            if let one = value.string {
                request.stop = [one]
            } else if let list = value.array {
                request.stop = try list.enumerated().map { try string($0.element, "stop[\($0.offset)]") }
            } else {
                throw APIError.badRequest("stop: must be a string or a list of strings, got \(describe(value))")
            }
            if let empty = request.stop.firstIndex(of: "") {
                throw APIError.badRequest("stop[\(empty)]: an empty stop string")
            }
        }
        if let value = fields["stream"] {
            guard let flag = value.bool else {
                throw APIError.badRequest("stream: must be true or false, got \(describe(value))")
            }
            request.stream = flag
        }
        if let options = fields["stream_options"] {
            guard let optionMembers = options.members else {
                throw APIError.badRequest("stream_options: must be an object, got \(describe(options))")
            }
            for member in optionMembers where member.key == "include_usage" && !member.value.isNull {
                guard let flag = member.value.bool else {
                    throw APIError.badRequest(
                        "stream_options.include_usage: must be true or false, got \(describe(member.value))")
                }
                request.includeUsage = flag
            }
        }
        if let value = fields["boxes"] {
            guard let list = value.array else {
                throw APIError.badRequest("boxes: must be a list of [x1, y1, x2, y2] lists, got \(describe(value))")
            }
            request.boxes = try list.enumerated().map { i, box in
                guard let numbers = box.array, numbers.count == 4, numbers.allSatisfy({ $0.double != nil }) else {
                    throw APIError.badRequest(
                        "boxes[\(i)]: must be [x1, y1, x2, y2] (four numbers), got \(describe(box))")
                }
                return numbers.compactMap(\.double)
            }
            if request.image == nil && !(request.boxes ?? []).isEmpty {
                throw APIError.badRequest("boxes: given without an image")
            }
        }
        return request
    }

    /// A message's text and image: a string, or a list of `text` / `image_url` parts.
    private static func content(_ value: JSONValue?, at: String, mediaPath: URL?) throws -> (String, ImageSource?) {
        guard let value else { return ("", nil) }
        if let text = value.string { return (text, nil) }
        guard let parts = value.array else {
            throw APIError.badRequest("\(at): must be a string or a list of parts, got \(describe(value))")
        }
        var texts: [String] = []
        var image: ImageSource? = nil
        for (index, part) in parts.enumerated() {
            let here = "\(at)[\(index)]"
            guard let partMembers = part.members else {
                throw APIError.badRequest("\(here): must be an object, got \(describe(part))")
            }
            let p = present(partMembers)
            guard let typeValue = p["type"] else { throw APIError.badRequest("\(here).type: required") }
            switch try string(typeValue, "\(here).type") {
            case "text":
                guard let textValue = p["text"] else { throw APIError.badRequest("\(here).text: required") }
                texts.append(try string(textValue, "\(here).text"))
            case "image_url":
                guard let urlValue = p["image_url"] else { throw APIError.badRequest("\(here).image_url: required") }
                // {"url": "..."} as OpenAI sends it, or the URL string itself as some clients do.
                let url: String
                if let direct = urlValue.string {
                    url = direct
                } else if let urlMembers = urlValue.members, let found = urlMembers.first(where: { $0.key == "url" }) {
                    url = try string(found.value, "\(here).image_url.url")
                } else {
                    throw APIError.badRequest("\(here).image_url: must be {\"url\": …}, got \(describe(urlValue))")
                }
                if image != nil {
                    throw APIError.badRequest(
                        "\(here): a second image; MG-LLaVA answers about one image per conversation")
                }
                image = try imageSource(url, at: "\(here).image_url.url", mediaPath: mediaPath)
            default:
                throw APIError.badRequest(
                    "\(here).type: unknown part type \(describe(typeValue)) (text and image_url are known)")
            }
        }
        return (texts.joined(separator: "\n"), image)
    }

    /// `data:image/…;base64,…`, bare base64, or `file://` under `mediaPath`; web URLs are refused (the server
    /// fetches nothing).
    static func imageSource(_ url: String, at: String, mediaPath: URL?) throws -> ImageSource {
        let lower = url.prefix(16).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            throw APIError.badRequest(
                "\(at): the server fetches nothing from the web; send the image as a data:image/…;base64, URI")
        }
        if lower.hasPrefix("data:") {
            guard let comma = url.firstIndex(of: ","), url[..<comma].lowercased().hasSuffix(";base64") else {
                throw APIError.badRequest("\(at): a data: URI must be data:image/…;base64,<data>")
            }
            return .base64(String(url[url.index(after: comma)...]))
        }
        if lower.hasPrefix("file://") {
            guard let mediaPath else {
                throw APIError.badRequest("\(at): file:// images need the server started with --media-path DIR")
            }
            guard let parsed = URL(string: url), parsed.isFileURL else {
                throw APIError.badRequest("\(at): not a valid file:// URL")
            }
            let root = mediaPath.standardizedFileURL.resolvingSymlinksInPath().path
            let file = parsed.standardizedFileURL.resolvingSymlinksInPath()
            guard file.path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
                throw APIError.badRequest("\(at): \(parsed.path) is outside the media folder \(mediaPath.path)")
            }
            return .file(file)
        }
        return .base64(url)
    }

    /// An object's members by name, `null` ones left out (OpenAI clients send `null` for "not set").
    private static func present(_ members: [JSONMember]) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        for member in members where !member.value.isNull { fields[member.key] = member.value }
        return fields
    }

    private static func string(_ value: JSONValue, _ field: String) throws -> String {
        guard let s = value.string else {
            throw APIError.badRequest("\(field): must be a string, got \(describe(value))")
        }
        return s
    }

    /// A short rendering of a value for errors.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .number(let d, let i): return i.map(String.init) ?? String(d)
        case .string(let s): return s.count > 40 ? "a string of \(s.utf8.count) bytes" : "\"\(s)\""
        case .array(let a): return "a list of \(a.count)"
        case .object: return "an object"
        }
    }
}
