import Foundation
import MGCheckpoint

/// The weights of a model folder or file, whatever format they are stored in: one `model.safetensors`, a sharded
/// safetensors index, or a single `.safetensors` file.
public struct CheckpointWeights: CustomStringConvertible {
    let safetensors: ShardedSafeTensors

    public static func open(_ url: URL) throws -> CheckpointWeights {
        CheckpointWeights(safetensors: try ShardedSafeTensors.open(url))
    }

    public var keys: [String] { safetensors.keys }

    public func tensor(_ key: String) throws -> Tensor { try safetensors.tensor(key) }

    public func loadAll() throws -> [String: Tensor] { try safetensors.loadAll() }

    public var description: String { safetensors.indexURL?.path ?? safetensors.directory.path }
}
