import ArgumentParser
import Foundation
import MGData
import MGLLaVA

/// `mgllava tokenize`: token ids of a text, of a prompt in a template, or of LLaVA-JSON conversations (ids and
/// labels exactly as training sees them), as JSON.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize text, a templated prompt, or LLaVA conversations (ids and labels) and print JSON.")

    @Option(help: "Tokenizer folder (tokenizer.json or tokenizer.model with their configs).")
    var tokenizer: String

    @Option(help: "Prompt template: \(PromptTemplate.all.map(\.name).joined(separator: ", ")).")
    var template: String?

    @Option(help: "A LLaVA-style JSON file: one record or a list of records with `conversations` (needs --template).")
    var conversation: String?

    @Option(help: "Truncate encoded conversations to this many tokens (upstream: 1472).")
    var maxLength: Int = ConversationEncoder.defaultMaxLength

    @Argument(help: "Text to tokenize (with --template: the user's message; `<image>` marks the image slot).")
    var text: String?

    func validate() throws {
        if conversation != nil && text != nil { throw ValidationError("give either TEXT or --conversation, not both") }
        if conversation == nil && text == nil { throw ValidationError("give a TEXT or --conversation FILE") }
        if conversation != nil && template == nil { throw ValidationError("--conversation needs --template") }
        if let template, PromptTemplate.named(template) == nil {
            throw ValidationError("unknown template \"\(template)\" (known: \(PromptTemplate.all.map(\.name).joined(separator: ", ")))")
        }
        guard maxLength > 0 else { throw ValidationError("--max-length must be positive") }
    }

    func run() throws {
        let tok = try Tokenizer.load(directory: URL(fileURLWithPath: tokenizer))
        var output: Any
        if let conversation {
            output = try encodeConversations(URL(fileURLWithPath: conversation), tok)
        } else if let text {
            if let name = template, let t = PromptTemplate.named(name) {
                let prompt = t.formatInput(text)
                var ids = tok.bosTokenId.map { [$0] } ?? []
                let chunks = prompt.components(separatedBy: ConversationEncoder.imageToken)
                if chunks.count > 2 { throw ValidationError("the prompt holds \(chunks.count - 1) <image> tokens; one is supported") }
                for (i, chunk) in chunks.enumerated() {
                    ids += tok.encodeWithoutSpecialTokens(chunk)
                    if i < chunks.count - 1 { ids.append(ConversationEncoder.imageTokenIndex) }
                }
                output = ["prompt": prompt, "ids": ids,
                          "tokens": ids.map { $0 == ConversationEncoder.imageTokenIndex ? "<image>" : tok.token(for: $0) ?? "?" }]
            } else {
                let ids = tok.encode(text, addSpecialTokens: true)
                output = ["ids": ids, "tokens": ids.map { tok.token(for: $0) ?? "?" },
                          "decoded": tok.decode(ids, skipSpecialTokens: true)]
            }
        } else {
            return
        }
        let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func encodeConversations(_ url: URL, _ tok: Tokenizer) throws -> Any {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ValidationError("cannot read \(url.path): \(DataError.plainReason(error))")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw ValidationError("\(url.path): not valid JSON (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"))")
        }
        let records: [[String: Any]]
        if let list = parsed as? [[String: Any]] { records = list }
        else if let one = parsed as? [String: Any] { records = [one] }
        else { throw ValidationError("\(url.path): expected a record or a list of records") }
        guard let name = template, let t = PromptTemplate.named(name) else { return [] }
        var out: [[String: Any]] = []
        var unsupervised: [String] = []
        for (i, record) in records.enumerated() {
            let id = record["id"].map { "\($0)" } ?? "#\(i)"
            guard let turns = record["conversations"] as? [[String: Any]] else {
                throw ValidationError("\(url.path): record \(id) has no \"conversations\" list")
            }
            var messages: [ConversationMessage] = []
            for (j, turn) in turns.enumerated() {
                guard let from = turn["from"] as? String, let value = turn["value"] as? String else {
                    throw ValidationError("\(url.path): record \(id), conversations[\(j)] needs string \"from\" and \"value\"")
                }
                messages.append(ConversationMessage(from: from, value: value))
            }
            let encoded = try ConversationEncoder.encode(messages, template: t, tokenizer: tok, maxLength: maxLength, sample: id)
            if !encoded.hasSupervisedTokens { unsupervised.append(id) }
            out.append(["id": id, "input_ids": encoded.inputIds, "labels": encoded.labels,
                        "kept": encoded.hasSupervisedTokens])
        }
        if !unsupervised.isEmpty {
            FileHandle.standardError.write(Data(("\(unsupervised.count) record(s) have no supervised token and would be "
                + "dropped in training: \(unsupervised.prefix(10).joined(separator: ", "))\n").utf8))
        }
        return out
    }
}
