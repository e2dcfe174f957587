import Foundation
import MGCheckpoint
import MGCLIP

extension CLIPVisionArchitecture {
    /// The architecture described by an HF CLIP config.
    public init(_ config: CLIPVisionConfig) {
        self.init(hiddenSize: config.hiddenSize, intermediateSize: config.intermediateSize,
                  numHiddenLayers: config.numHiddenLayers, numAttentionHeads: config.numAttentionHeads,
                  numChannels: config.numChannels, imageSize: config.imageSize, patchSize: config.patchSize,
                  layerNormEps: Float(config.layerNormEps), hiddenAct: config.hiddenAct)
    }
}

extension CLIPVisionModel {
    /// Loads the vision tower from an HF CLIP folder (a full `CLIPModel` or a `CLIPVisionModel`): `config.json`
    /// plus the weights, strictly — every tower key present with its shape, the text tower and the other
    /// documented extras ignored, anything else reported. The tower comes back frozen and in eval mode.
    public static func load(directory: URL) throws -> CLIPVisionModel {
        let config = try CLIPVisionConfig.load(directory)
        let model = CLIPVisionModel(CLIPVisionArchitecture(config))
        let weights = try CheckpointWeights.open(directory)
        try model.load(try weights.loadAll(), source: weights.description, ignoring: CLIPVisionModel.isIgnoredKey)
        model.freeze()
        model.eval()
        return model
    }
}
