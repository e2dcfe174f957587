import MGTokenizers

extension Tokenizer: ConversationTokenizer {
    /// `tokenizer.encode(text, add_special_tokens=False)`.
    public func encodeWithoutSpecialTokens(_ text: String) -> [Int] { encode(text, addSpecialTokens: false) }
}
