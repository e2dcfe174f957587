extension OWLv2Configuration {
    /// `google/owlv2-base-patch16-ensemble`: ViT-B/16 at 960 (a 60 × 60 grid), text 512 wide.
    public static let base16: OWLv2Configuration = {
        var vision = OWLv2VisionConfiguration()
        vision.imageSize = 960
        return OWLv2Configuration(text: OWLv2TextConfiguration(), vision: vision, projectionDim: 512)
    }()

    /// `google/owlv2-large-patch14-ensemble` (upstream's detector): ViT-L/14 at 1008 (a 72 × 72 grid), text 768 wide.
    public static let large14: OWLv2Configuration = {
        var text = OWLv2TextConfiguration()
        (text.hiddenSize, text.intermediateSize, text.numAttentionHeads) = (768, 3072, 12)
        var vision = OWLv2VisionConfiguration()
        (vision.hiddenSize, vision.intermediateSize, vision.numHiddenLayers, vision.numAttentionHeads) =
            (1024, 4096, 24, 16)
        (vision.imageSize, vision.patchSize) = (1008, 14)
        return OWLv2Configuration(text: text, vision: vision, projectionDim: 768)
    }()
}
