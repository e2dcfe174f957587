import Foundation
import MGLLM
import MGTokenizers

/// A multi-turn conversation with MG-LLaVA about one image, as upstream's chat does it: the first user turn carries
/// the image (`<image>\n` + text), every turn is formatted with the prompt template, answers are generated with
/// the KV cache, and the history (answers, EOS/separators as in training) is kept for the next turn.
public final class ChatSession {
    public let model: MGLLaVAModel
    public let tokenizer: Tokenizer
    public let template: PromptTemplate
    public let visual: VisualInputs?
    public let system: String
    /// Ids of the conversation so far (with the −200 image slot), ending after the last answer.
    public private(set) var history: [Int] = []
    private var turns = 0

    public init(
        model: MGLLaVAModel, tokenizer: Tokenizer, template: PromptTemplate, visual: VisualInputs?, system: String = ""
    ) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.visual = visual
        self.system = system
    }

    /// One answer: its ids, its text (stop words removed) and every generated step.
    public struct Reply {
        public var ids: [Int]
        public var text: String
        public var steps: [GeneratedStep]
        /// Where the time went (llama.cpp's `timings`, plus the visual side).
        public var timings: Timings
        /// Why generation ended.
        public var finishReason: FinishReason
    }

    /// Why an answer ended (OpenAI's `finish_reason`, plus the caller's own stop).
    public enum FinishReason: String, Sendable {
        /// EOS or a stop word.
        case stop
        /// The token budget (`maxNewTokens`, or the model's context) ran out.
        case length
        /// `shouldContinue` said no (a client went away, a stop string of the caller's appeared).
        case cancelled
    }

    /// One answer's wall-clock time, split as llama.cpp reports it, with the image's encoding first.
    public struct Timings: Sendable {
        /// Towers, fusion, box features and projectors: the visual tokens spliced into the prompt (0 without an
        /// image).
        public var visualSeconds: Double
        /// Positions the prompt filled (text + visual tokens).
        public var promptTokens: Int
        /// The prompt's forward pass, up to the first token's logits.
        public var prefillSeconds: Double
        /// Tokens decoded after the first (each needed one forward pass).
        public var decodedTokens: Int
        public var decodeSeconds: Double

        /// One line: "visual 1.23 s; prefill 700 tokens in 4.56 s (153.5 tokens/s); decode 31 tokens in …".
        public var summary: String {
            String(
                format: "visual %.2f s; prefill %d tokens in %.2f s (%.1f tokens/s); decode %d tokens in %.2f s"
                    + " (%.2f tokens/s)",
                visualSeconds, promptTokens, prefillSeconds, Double(promptTokens) / max(prefillSeconds, 1e-9),
                decodedTokens, decodeSeconds, Double(decodedTokens) / max(decodeSeconds, 1e-9))
        }
    }

    /// A turn that cannot be asked (it does not fit the context, or misplaces `<image>`).
    public struct ChatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Token ids the next turn would add for `message` (BOS rules and image slot as in training).
    public func promptIds(for message: String) throws -> [Int] {
        var text = message
        if turns == 0 && visual != nil && !ByteText.contains(text, ConversationEncoder.imageToken) {
            text = ConversationEncoder.imageToken + "\n" + text
        }
        let images =
            ByteText.components(text, separatedBy: ConversationEncoder.imageToken).count - 1
            + ByteText.components(turns == 0 ? system : "", separatedBy: ConversationEncoder.imageToken).count - 1
        if images > 1 || (images == 1 && (visual == nil || turns > 0)) {
            throw ChatError(description: "a message may hold one <image>, in the first turn of a chat about an image")
        }
        return try ConversationEncoder.turnIds(
            text, template: template, tokenizer: tokenizer, firstTurn: turns == 0,
            system: turns == 0 ? system : "")
    }

    /// Visual tokens the image adds (576 + K for the real model).
    public var visualTokenCount: Int {
        guard let visual else { return 0 }
        return model.visualEncoder.architecture.numPatches + visual.boxes.count
    }

    /// Positions the conversation so far plus `message` fill (text tokens and the visual tokens), checked against
    /// the model's context with room for one answer token: the checks `send` makes before any compute, for callers
    /// that must refuse a request before they start it (a server's 400).
    @discardableResult
    public func positionsNeeded(for message: String) throws -> Int {
        try positionsNeeded(history + promptIds(for: message))
    }

    private func positionsNeeded(_ ids: [Int]) throws -> Int {
        let context = model.llm.architecture.maxPositionEmbeddings
        let needed = ids.count - (ids.contains(ConversationEncoder.imageTokenIndex) ? 1 : 0) + visualTokenCount
        if needed + 1 > context {
            throw ChatError(
                description: "the prompt needs \(needed) positions (\(ids.count) text tokens + \(visualTokenCount) "
                    + "visual tokens) and the model's context is \(context): shorten the prompt or start a new chat")
        }
        return needed
    }

    /// Ids that stop generation: EOS and every stop word that is a single token.
    public var stopTokenIds: Set<Int> {
        var ids = Set(tokenizer.eosTokenId.map { [$0] } ?? [])
        for word in template.stopWords { if let id = tokenizer.id(for: word) { ids.insert(id) } }
        return ids
    }

    /// Generates the answer to `message`. Throws before any compute when the prompt cannot fit the model's context.
    /// `onText` gets the answer in pieces as it is generated; together they are the answer (`Reply.text` is it
    /// trimmed of spaces at both ends). `shouldContinue` is asked after every token (and after `onText`): false ends
    /// the answer there, with `FinishReason.cancelled`.
    public func send(
        _ message: String, maxNewTokens: Int, sampling: SamplingConfig,
        onText: (String) -> Void = { _ in }, shouldContinue: () -> Bool = { true }
    ) throws -> Reply {
        let prompt = try promptIds(for: message)
        let ids = history + prompt
        let needed = try positionsNeeded(ids)
        let budget = min(maxNewTokens, model.llm.architecture.maxPositionEmbeddings - needed)
        let sample = MultimodalSample(
            inputIds: ids, pixelValues: visual?.pixelValues,
            pixelValuesAux: visual?.pixelValuesAux, boxes: visual?.boxes ?? [])
        let start = DispatchTime.now().uptimeNanoseconds
        let embeds = withNoGrad { model.prepareInputs([sample]).inputsEmbeds.squeezed(0) }
        let prefillStart = DispatchTime.now().uptimeNanoseconds
        var firstStep: UInt64? = nil
        var steps: [GeneratedStep] = []
        var generated: [Int] = []
        var printed = ""
        var cancelled = false
        let stopWords = template.stopWords
        let stopIds = stopTokenIds
        _ = model.llm.generate(
            prompts: [embeds],
            config: GenerationConfig(
                maxNewTokens: budget, sampling: sampling,
                stopTokenIds: stopIds)
        ) { step in
            if firstStep == nil { firstStep = DispatchTime.now().uptimeNanoseconds }
            steps.append(step)
            generated.append(step.token)
            let text = tokenizer.decode(generated, skipSpecialTokens: true)
            // A run of byte-fallback tokens decodes as a whole (an invalid run turns even its ASCII bytes into
            // U+FFFD), so nothing is streamed while one may still be growing.
            if !tokenizer.isByteFallbackToken(step.token),
                let delta = ByteText.streamedDelta(printed: printed, text: text), !delta.isEmpty
            {
                onText(delta)
                printed = text
            }
            // Multi-token stop words end the answer once they appear in the text (compared as bytes).
            if stopWords.contains(where: { !$0.isEmpty && tokenizer.id(for: $0) == nil && ByteText.hasSuffix(text, $0) }
            ) {
                return false
            }
            if !shouldContinue() {
                cancelled = true
                return false
            }
            return true
        }
        var answer = tokenizer.decode(generated, skipSpecialTokens: true)
        for word in stopWords { answer = ByteText.removingSuffix(word, from: answer) }
        // What streaming held back (a last run of byte tokens, a character whose bytes never completed), so that
        // the streamed text is the whole answer.
        if ByteText.hasPrefix(answer, printed), answer.utf8.count > printed.utf8.count {
            onText(String(decoding: answer.utf8.dropFirst(printed.utf8.count), as: UTF8.self))
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let first = firstStep ?? end
        let timings = Timings(
            visualSeconds: sample.pixelValues == nil ? 0 : Double(prefillStart - start) / 1e9,
            promptTokens: embeds.shape[0], prefillSeconds: Double(first - prefillStart) / 1e9,
            decodedTokens: max(0, generated.count - 1), decodeSeconds: Double(end - first) / 1e9)
        commit(promptIds: prompt, answerIds: generated)
        let stopped =
            generated.last.map { stopIds.contains($0) } == true
            || stopWords.contains {
                !$0.isEmpty && ByteText.hasSuffix(tokenizer.decode(generated, skipSpecialTokens: true), $0)
            }
        let reason: FinishReason = cancelled ? .cancelled : stopped || generated.count < budget ? .stop : .length
        return Reply(
            ids: generated, text: answer.trimmingCharacters(in: .whitespaces), steps: steps, timings: timings,
            finishReason: reason)
    }

    /// Adds a turn whose answer is already known, as `send` does after generating `answerIds` (ending with the
    /// stop token the model produced: EOS, or the template's suffix such as `<|end|>`): to replay a saved
    /// transcript, or to continue a conversation held elsewhere. The history is then what training encodes for the
    /// same conversation (XTuner's `encode_fn`).
    public func record(_ message: String, answerIds: [Int]) throws {
        commit(promptIds: try promptIds(for: message), answerIds: answerIds)
    }

    /// History for the next turn: the prompt, the answer as generated, EOS when the template needs one (and the
    /// answer did not end with it), then the separator.
    private func commit(promptIds: [Int], answerIds: [Int]) {
        history += promptIds + answerIds
        if !template.suffixAsEOS, let eos = tokenizer.eosTokenId, answerIds.last != eos { history.append(eos) }
        if !template.separator.isEmpty { history += tokenizer.encodeWithoutSpecialTokens(template.separator) }
        turns += 1
    }
}
