import Foundation
import MGCheckpoint
import MGJSON
import MGCLIP
import MGConvNeXt

extension CLIPVisionModel {
    /// Loads the vision tower from an HF CLIP folder (a full `CLIPModel` or a `CLIPVisionModel`): `config.json`
    /// plus the weights, strictly — every tower key present with its shape, the text tower and the other
    /// documented extras ignored, anything else reported. The tower comes back frozen and in eval mode,
    /// its weights used in place from the checkpoint.
    public static func load(directory: URL) throws -> CLIPVisionModel {
        let config = try CLIPVisionConfiguration.load(directory)
        let model = CLIPVisionModel(CLIPVisionArchitecture(config))
        let weights = try Checkpoint.open(directory)
        // Frozen first, so the weights are used in place (memory-mapped, no copy).
        model.freeze()
        model.eval()
        try model.load(
            try weights.loadAll(), source: weights.description, ignoring: CLIPVisionModel.isIgnoredKey,
            inPlaceWhenFrozen: true)
        return model
    }
}

extension ConvNeXtTrunk {
    /// Loads the ConvNeXt trunk from an open_clip folder (`open_clip_config.json` + `open_clip_pytorch_model.bin`
    /// or `.safetensors`). Depths and widths come from the timm model name when it is a known one, otherwise from
    /// the checkpoint's keys; only `visual.trunk.stem.*` and `visual.trunk.stages.*` are used (the head, the text
    /// tower and `logit_scale` are ignored, as upstream drops them). Comes back frozen, in eval mode.
    public static func load(directory: URL) throws -> ConvNeXtTrunk {
        let config = try OpenCLIPConfiguration.load(directory)
        let weights = try Checkpoint.open(directory)
        var shapes: [String: [Int]] = [:]
        for info in try weights.infos() { shapes[info.name] = info.shape }
        guard let inferred = ConvNeXtArchitecture.infer(fromShapes: shapes, prefix: keyPrefix) else {
            throw ConfigError(
                path: weights.description, key: "visual.trunk.stages",
                reason: "no ConvNeXt trunk keys (visual.trunk.stem.0.weight, visual.trunk.stages.N.blocks.M.gamma)")
        }
        if let named = ConvNeXtArchitecture(config),
            named.depths != inferred.depths || named.dims != inferred.dims
        {
            throw ConfigError(
                path: weights.description, key: "visual.trunk.stages",
                reason: "the weights have depths \(inferred.depths) and widths \(inferred.dims), but "
                    + "open_clip_config.json names \(config.timmModelName) (\(named.depths), \(named.dims))")
        }
        let trunk = ConvNeXtTrunk(inferred)
        trunk.freeze()
        trunk.eval()
        try trunk.load(
            try weights.loadAll(), source: weights.description, ignoring: ConvNeXtTrunk.isIgnoredKey,
            inPlaceWhenFrozen: true)
        return trunk
    }
}
