import MGTokenizers

// Prompt templates, as XTuner's `PROMPT_TEMPLATE` entries MG-LLaVA uses (SPEC §2.2). Strings are verbatim,
// including the trailing space of Vicuna's SYSTEM and the newlines inside the chat markers.

/// One of XTuner's `PROMPT_TEMPLATE` entries that MG-LLaVA uses.
public struct PromptTemplate: Sendable, Equatable, Codable {
    public var name: String
    /// Formatted with `{system}`; only used when a turn has a non-empty system prompt.
    public var system: String
    /// Formatted with `{input}`.
    public var instruction: String
    /// Appended to every answer (and supervised) when non-empty.
    public var suffix: String
    /// When true the suffix ends the answer and no EOS token is appended (`need_eos_token = !suffixAsEOS`).
    public var suffixAsEOS: Bool
    /// Encoded separately after every turn, without loss.
    public var separator: String
    /// Generation stops at any of these strings.
    public var stopWords: [String]

    public static let vicuna = PromptTemplate(
        name: "vicuna",
        system: "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
            + "detailed, and polite answers to the user's questions. {system}\n ",
        instruction: "USER: {input} ASSISTANT:", suffix: "", suffixAsEOS: false, separator: "\n", stopWords: [])

    public static let phi3Chat = PromptTemplate(
        name: "phi3_chat", system: "<|system|>{system}<|end|>\n",
        instruction: "<|user|>{input}<|end|>\n<|assistant|>\n", suffix: "<|end|>", suffixAsEOS: true,
        separator: "\n", stopWords: ["<|end|>"])

    public static let llama3Chat = PromptTemplate(
        name: "llama3_chat", system: "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",
        instruction: "<|start_header_id|>user<|end_header_id|>\n\n{input}<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
        suffix: "<|eot_id|>", suffixAsEOS: true, separator: "", stopWords: ["<|eot_id|>"])

    /// ChatML, used by MG-LLaVA for Yi-1.5-34B.
    public static let qwenChat = PromptTemplate(
        name: "qwen_chat", system: "<|im_start|>system\n{system}<|im_end|>\n",
        instruction: "<|im_start|>user\n{input}<|im_end|>\n<|im_start|>assistant\n", suffix: "<|im_end|>",
        suffixAsEOS: true, separator: "\n", stopWords: ["<|im_end|>", "<|endoftext|>"])

    public static let all: [PromptTemplate] = [.vicuna, .phi3Chat, .llama3Chat, .qwenChat]

    public static func named(_ name: String) -> PromptTemplate? { all.first { $0.name == name } }

    /// INSTRUCTION with `{input}` filled in, prefixed by SYSTEM when `system` is non-empty (template_map_fn).
    public func formatInput(_ input: String, system: String = "") -> String {
        let text = ByteText.replacingAll("{input}", with: input, in: instruction)
        if system.isEmpty { return text }
        return ByteText.replacingAll("{system}", with: system, in: self.system) + text
    }
}
