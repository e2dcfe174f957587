import Foundation
import MGFusion

/// The modules MG-LLaVA trains besides the LLM, loaded on their own from a checkpoint (for tools that do not need
/// the LLM). Each is nil when the checkpoint lacks it; shapes come from the checkpoint, keys are checked strictly.
public struct TrainedModules {
    public var fusion: ConvGateFusion?
    public var projector: Sequential?
    public var bboxProjector: Sequential?

    public static func load(_ url: URL, lowResDim: Int, highResDim: Int) throws -> TrainedModules {
        let weights = try Checkpoint.open(url)
        func group(_ prefix: String) throws -> [String: Tensor] {
            var d: [String: Tensor] = [:]
            for key in weights.keys where Module.key(key, hasPrefix: prefix) {
                d[String(key.dropFirst(prefix.count + 1))] = try weights.tensor(key)
            }
            return d
        }
        var result = TrainedModules()
        let fuse = try group("fuse_module")
        if !fuse.isEmpty {
            let f = ConvGateFusion(lowResDim: lowResDim, highResDim: highResDim)
            try f.load(fuse, source: weights.description + " (fuse_module)")
            result.fusion = f
        }
        for (prefix, keyPath) in [
            ("projector", \TrainedModules.projector), ("bbox_projector", \TrainedModules.bboxProjector)
        ] {
            let g = try group(prefix)
            if g.isEmpty { continue }
            guard let w0 = g["model.0.weight"], let w2 = g["model.2.weight"] else {
                throw MGLLaVALoadError(
                    source: weights.description, reason: "\(prefix) lacks model.0.weight or model.2.weight")
            }
            let mlp = Sequential(
                Linear(w0.shape[1], w0.shape[0]), ActivationLayer(.gelu), Linear(w2.shape[1], w2.shape[0]))
            try ModuleGroup(["model": mlp]).load(g, source: weights.description + " (\(prefix))")
            result[keyPath: keyPath] = mlp
        }
        return result
    }
}
