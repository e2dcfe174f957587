import Foundation
import MGCheckpoint

/// Name, stored dtype and shape of one tensor of a checkpoint (without reading its data).
public struct WeightInfo: Sendable, Equatable {
    public var name: String
    /// The stored dtype as its safetensors code (F32, BF16, …) or torch name when safetensors has none.
    public var dtype: String
    public var shape: [Int]
    public var byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The weights of a model folder or file, whatever format they are stored in: safetensors (`model.safetensors`,
/// a sharded index, a single file) or PyTorch pickles read safely (`pytorch_model.bin`, its sharded index, the
/// open_clip `open_clip_pytorch_model.bin`, an MG-LLaVA `.pth`). Tensors are read lazily, one at a time.
public struct CheckpointWeights: CustomStringConvertible {
    enum Backend {
        case safetensors(ShardedSafeTensors)
        case torch(ShardedTorchCheckpoint)
    }

    let backend: Backend
    public let source: URL

    /// Folder lookup order: model.safetensors, its index, open_clip_pytorch_model.safetensors, pytorch_model.bin,
    /// its index, open_clip_pytorch_model.bin. A file is read by its kind: `.safetensors` or a torch zip.
    public static func open(_ url: URL) throws -> CheckpointWeights {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: url.path, operation: "open", errno: ENOENT)
        }
        if !isDirectory.boolValue {
            if url.pathExtension == "safetensors" || url.lastPathComponent == ShardedSafeTensors.indexFileName {
                return CheckpointWeights(backend: .safetensors(try ShardedSafeTensors.open(url)), source: url)
            }
            return CheckpointWeights(backend: .torch(try ShardedTorchCheckpoint.open(url)), source: url)
        }
        let fm = FileManager.default
        func exists(_ name: String) -> URL? {
            let u = url.appendingPathComponent(name)
            return fm.fileExists(atPath: u.path) ? u : nil
        }
        if exists(ShardedSafeTensors.singleFileName) != nil || exists(ShardedSafeTensors.indexFileName) != nil {
            return CheckpointWeights(backend: .safetensors(try ShardedSafeTensors.open(url)), source: url)
        }
        if let file = exists("open_clip_pytorch_model.safetensors") {
            return CheckpointWeights(backend: .safetensors(try ShardedSafeTensors.open(file)), source: file)
        }
        if exists(ShardedTorchCheckpoint.singleFileName) != nil || exists(ShardedTorchCheckpoint.indexFileName) != nil {
            return CheckpointWeights(backend: .torch(try ShardedTorchCheckpoint.open(url)), source: url)
        }
        if let file = exists("open_clip_pytorch_model.bin") {
            return CheckpointWeights(backend: .torch(try ShardedTorchCheckpoint.open(file)), source: file)
        }
        throw CheckpointError.noCheckpoint(directory: url.path)
    }

    public var keys: [String] {
        switch backend {
        case .safetensors(let s): return s.keys
        case .torch(let t): return t.keys
        }
    }

    public func info(_ key: String) throws -> WeightInfo {
        switch backend {
        case .safetensors(let s):
            let i = try s.info(for: key)
            return WeightInfo(name: key, dtype: i.dtype.rawValue, shape: i.shape, byteCount: i.byteCount)
        case .torch(let t):
            let i = try t.info(for: key)
            return WeightInfo(name: key, dtype: i.dtype.safetensors?.rawValue ?? i.dtype.description, shape: i.shape,
                              byteCount: i.byteCount)
        }
    }

    public func infos() throws -> [WeightInfo] { try keys.map { try info($0) } }

    /// One tensor in its stored dtype (zero-copy where the format and alignment allow).
    public func tensor(_ key: String) throws -> Tensor {
        switch backend {
        case .safetensors(let s): return try s.tensor(key)
        case .torch(let t): return try t.tensor(key)
        }
    }

    public func loadAll() throws -> [String: Tensor] {
        switch backend {
        case .safetensors(let s): return try s.loadAll()
        case .torch(let t): return try t.loadAll()
        }
    }

    /// Non-tensor globals a pickle referenced (mmengine/numpy metadata), kept inert; empty for safetensors.
    public var opaqueGlobals: [String] {
        guard case .torch(let t) = backend else { return [] }
        var names = Set<String>()
        for shard in t.shardNames { names.formUnion((try? t.shard(named: shard).opaqueGlobals) ?? []) }
        return names.sorted()
    }

    public var description: String { source.path }
}
