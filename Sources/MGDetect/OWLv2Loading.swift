import Foundation
import MGCheckpoint
import MGJSON
import MGNN

extension OWLv2Model {
    /// Loads `Owlv2ForObjectDetection` from an HF folder as downloaded: `config.json` and `model.safetensors` (or
    /// `pytorch_model.bin`, read without executing pickle code), strictly — every key present with its shape,
    /// nothing unexpected except the `position_ids` buffers older transformers versions saved. Frozen, in eval mode,
    /// the weights used in place from the checkpoint.
    public static func load(directory: URL) throws -> OWLv2Model {
        let configuration = try OWLv2Configuration.load(directory)
        let model = OWLv2Model(configuration)
        let weights = try Checkpoint.open(directory)
        model.freeze()
        model.eval()
        try model.load(
            try weights.loadAll(), source: weights.description,
            ignoring: { $0.hasSuffix("embeddings.position_ids") }, inPlaceWhenFrozen: true)
        return model
    }
}
