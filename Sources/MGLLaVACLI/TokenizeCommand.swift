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
            throw ValidationError(
                "unknown template \"\(template)\" (known: \(PromptTemplate.all.map(\.name).joined(separator: ", ")))")
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
                let ids = try ConversationEncoder.turnIds(text, template: t, tokenizer: tok, firstTurn: true)
                output = [
                    "prompt": t.formatInput(text), "ids": ids,
                    "tokens": ids.map {
                        $0 == ConversationEncoder.imageTokenIndex ? "<image>" : tok.token(for: $0) ?? "?"
                    }
                ]
            } else {
                let ids = tok.encode(text, addSpecialTokens: true)
                output = [
                    "ids": ids, "tokens": ids.map { tok.token(for: $0) ?? "?" },
                    "decoded": tok.decode(ids, skipSpecialTokens: true)
                ]
            }
        } else {
            return
        }
        let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func encodeConversations(_ url: URL, _ tok: Tokenizer) throws -> Any {
        guard let name = template, let t = PromptTemplate.named(name) else { return [] }
        // A file of records, or one record: LLaVARecord reads both strictly, naming the file and the record.
        let records: [LLaVARecord]
        do {
            records = try LLaVARecord.load(contentsOf: url)
        } catch DataError.invalidRecord(_, -1, nil, _) {
            let data = try Data(contentsOf: url)
            var list = Data("[".utf8)
            list.append(data)
            list.append(Data("]".utf8))
            records = try LLaVARecord.decode(list, file: url.path)
        }
        var out: [[String: Any]] = []
        var unsupervised: [String] = []
        for record in records {
            let encoded = try ConversationEncoder.encode(
                record.conversations, template: t, tokenizer: tok,
                maxLength: maxLength, sample: record.id)
            if !encoded.hasSupervisedTokens { unsupervised.append(record.id) }
            out.append([
                "id": record.id, "input_ids": encoded.inputIds, "labels": encoded.labels,
                "kept": encoded.hasSupervisedTokens
            ])
        }
        if !unsupervised.isEmpty {
            FileHandle.standardError.write(
                Data(
                    ("\(unsupervised.count) record(s) have no supervised token and would be "
                        + "dropped in training: \(unsupervised.prefix(10).joined(separator: ", "))\n").utf8))
        }
        return out
    }
}
