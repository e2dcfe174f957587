/// What `encode(…, addSpecialTokens: true)` adds around the ids of a single sequence: HF's TemplateProcessing
/// `single` template (e.g. `<|begin_of_text|> $A`), or the `add_bos_token` / `add_eos_token` of LlamaTokenizer.
/// Without special tokens the ids pass through unchanged.
struct PostProcessor: Sendable, Equatable {
    /// Ids before and after the sequence.
    var prefix: [Int32] = []
    var suffix: [Int32] = []

    static let none = PostProcessor()

    func apply(_ ids: [Int32], addSpecialTokens: Bool) -> [Int32] {
        guard addSpecialTokens, !(prefix.isEmpty && suffix.isEmpty) else { return ids }
        return prefix + ids + suffix
    }
}
