/// A text encoded to a fixed number of tokens, as a CLIP text encoder (OWLv2's queries) takes it: the ids with
/// the special tokens, padded with the pad token, and the attention mask.
public struct PaddedEncoding: Sendable, Equatable {
    /// Exactly the requested length: bos, the text's ids, eos, then pad ids.
    public var ids: [Int]
    /// 1 for the tokens of the text and its special tokens, 0 for padding.
    public var attentionMask: [Int]
    /// Whether the text's ids were cut to fit. Owlv2Processor itself never truncates (it passes only
    /// `padding="max_length"`), so a query that comes back truncated is one transformers would hand to the model
    /// longer than its position embeddings, which fails there.
    public var truncated: Bool

    /// Builds an encoding from its parts.
    public init(ids: [Int], attentionMask: [Int], truncated: Bool) {
        self.ids = ids
        self.attentionMask = attentionMask
        self.truncated = truncated
    }
}

extension Tokenizer {
    /// transformers' `tokenizer(text, padding="max_length", truncation=True, max_length=length)`: the text is
    /// encoded with special tokens; if that is longer than `length`, the text's ids are cut from the end so that
    /// they and the special tokens fill `length` (the sequence still ends with eos); shorter sequences are padded
    /// on the right with `padTokenId` ("!", id 0, for OWLv2's CLIP), masked out. Without truncation this is what
    /// Owlv2Processor passes to the text encoder, with `length` = `modelMaxLength` (16). Returns nil when the
    /// tokenizer has no pad token (transformers refuses to pad then) or `length` cannot hold the special tokens.
    public func encodePadded(_ text: String, length: Int) -> PaddedEncoding? {
        guard let padTokenId else { return nil }
        let content = encodeIds(text, addSpecialTokens: false)
        let specials = withSpecialTokens([]).count
        guard length >= specials else { return nil }
        let kept = min(content.count, length - specials)
        var ids = withSpecialTokens(Array(content[..<kept])).map { Int($0) }
        var mask = [Int](repeating: 1, count: ids.count)
        ids += repeatElement(padTokenId, count: length - ids.count)
        mask += repeatElement(0, count: length - mask.count)
        return PaddedEncoding(ids: ids, attentionMask: mask, truncated: kept < content.count)
    }
}
