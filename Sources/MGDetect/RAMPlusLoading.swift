import Foundation
import MGCheckpoint
import MGNN

extension RAMPlusModel {
    /// Loads RAM++ from its released `.pth` (`ram_plus_swin_large_14m.pth`: a torch zip whose `model` entry is the
    /// state dict, read without executing pickle code) or a safetensors file, for `configuration`.
    ///
    /// Every key of the model must be present with its shape; keys the model does not have are left unread, as
    /// upstream's `load_state_dict(strict=False)` leaves them (their names are returned). The stored
    /// `relative_position_index` and `attn_mask` buffers must equal the ones the configuration's window geometry
    /// gives (they are computed, never used as read). A checkpoint of another variant — RAM rather than RAM++, a
    /// Swin-B encoder, another input size or window — is refused with what it is and what was expected. Frozen,
    /// in eval mode, the weights used in place.
    public static func load(
        checkpoint url: URL, configuration: RAMPlusConfiguration
    ) throws -> (model: RAMPlusModel, unused: [String]) {
        try load(weights: try Checkpoint.open(url), path: url.path, configuration: configuration)
    }

    /// `load(checkpoint:configuration:)` on a checkpoint already opened (`path` names it in messages).
    public static func load(
        weights: any TensorSource, path: String, configuration: RAMPlusConfiguration
    ) throws -> (model: RAMPlusModel, unused: [String]) {
        let model = RAMPlusModel(configuration)
        try checkVariant(weights, configuration: configuration, path: path)

        let buffers = model.namedBuffers()
        var state: [String: Tensor] = [:]
        for key in weights.keys { state[key] = try weights.tensor(key) }
        for (key, buffer) in buffers {
            guard let stored = state[key] else { continue }  // absent: fine, they are computed
            guard stored.shape == buffer.shape, stored.float().toArray() == buffer.value.float().toArray() else {
                throw DetectorError(
                    "\(path): '\(key)' \(stored.shape) differs from the window geometry of the configuration "
                        + "(\(configuration.vision.imageSize) px, window \(configuration.vision.windowSize)): "
                        + "the checkpoint was made for another input size or window")
            }
        }
        // Checked above; the module keeps its computed geometry.
        let isBuffer = Set(buffers.map(\.0))
        for key in isBuffer { state[key] = nil }
        model.freeze()
        model.eval()
        let report = try model.load(
            state, strict: false, source: path, ignoring: { isBuffer.contains($0) }, inPlaceWhenFrozen: true)
        guard report.missing.isEmpty else {
            let shown = report.missing.prefix(8).joined(separator: ", ")
            throw DetectorError(
                "\(path): not a RAM++ checkpoint for this configuration: \(report.missing.count) of its keys are "
                    + "missing (\(shown)\(report.missing.count > 8 ? ", …" : ""))")
        }
        return (model, report.unexpected)
    }

    /// Names the variant a checkpoint holds when it is not the configured RAM++ (before any shape error).
    static func checkVariant(_ weights: any TensorSource, configuration: RAMPlusConfiguration, path: String) throws {
        let keys = Set(weights.keys)
        func shape(_ key: String) throws -> [Int]? { keys.contains(key) ? try weights.info(for: key).shape : nil }
        guard keys.contains(where: { $0.hasPrefix("visual_encoder.") }), keys.contains("fc.weight") else {
            throw DetectorError(
                "\(path): not a RAM++ checkpoint (no visual_encoder.* or fc.weight keys; "
                    + "expected ram_plus_swin_large_14m.pth's 'model' state dict)")
        }
        guard keys.contains("reweight_scale") else {
            throw DetectorError(
                "\(path): a RAM (or Tag2Text) checkpoint, not RAM++: it has no 'reweight_scale' (RAM++'s description "
                    + "re-weighting); use ram_plus_swin_large_14m.pth")
        }
        let vision = configuration.vision
        if let stem = try shape("visual_encoder.patch_embed.proj.weight"), stem.count == 4, stem[0] != vision.embedDim {
            let name = [128: "Swin-B", 192: "Swin-L", 96: "Swin-T/S"][stem[0]] ?? "Swin with embed_dim \(stem[0])"
            throw DetectorError(
                "\(path): 'visual_encoder.patch_embed.proj.weight' is \(stem): a \(name) encoder, but the "
                    + "configuration expects embed_dim \(vision.embedDim) (swin_l: 192)")
        }
        if let table = try shape("visual_encoder.layers.0.blocks.0.attn.relative_position_bias_table"),
            table.count == 2, let side = Int(exactly: Double(table[0]).squareRoot()),
            (side + 1) / 2 != vision.window(stage: 0)
        {
            throw DetectorError(
                "\(path): 'visual_encoder.layers.0.blocks.0.attn.relative_position_bias_table' is \(table): window "
                    + "\((side + 1) / 2), but the configuration expects window \(vision.window(stage: 0)) "
                    + "(RAM++ at 224 uses window 7, at 384 window 12)")
        }
        if let mask = try shape("visual_encoder.layers.0.blocks.1.attn_mask"), mask.count == 3 {
            let perSide = Int(Double(mask[0]).squareRoot().rounded())
            let size = perSide * vision.window(stage: 0) * vision.patchSize
            if size != vision.imageSize {
                throw DetectorError(
                    "\(path): 'visual_encoder.layers.0.blocks.1.attn_mask' is \(mask): made for \(size) px input, "
                        + "but the configuration expects \(vision.imageSize) px")
            }
        }
        if let labels = try shape("label_embed"), labels.count == 2 {
            let expected = configuration.numClasses * configuration.descriptionsPerClass
            if labels[0] != expected {
                throw DetectorError(
                    "\(path): 'label_embed' has \(labels[0]) rows, but \(configuration.numClasses) tags × "
                        + "\(configuration.descriptionsPerClass) descriptions need \(expected) (is the tag list "
                        + "the one this checkpoint was trained with?)")
            }
        }
    }
}
