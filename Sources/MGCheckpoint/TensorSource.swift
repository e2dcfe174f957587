import Foundation

/// Read access to the tensors of a checkpoint, whatever its format and however many files it spans: what loading,
/// `inspect` and `convert` use. `ShardedSafeTensors` and `ShardedTorchCheckpoint` (one file or an index of shards)
/// conform; `Checkpoint.open` picks the right one for a model folder or file.
public protocol TensorSource: Sendable, CustomStringConvertible {
    /// Tensor keys, sorted.
    var keys: [String] { get }
    /// Name, stored dtype, shape and byte count of `key`, without reading its data.
    func info(for key: String) throws -> WeightInfo
    /// The tensor `key` in its stored dtype; zero-copy where the format and alignment allow, unless `copy`
    /// (ask for a copy for weights an optimizer will update: borrowed memory is read-only).
    func tensor(_ key: String, copy: Bool) throws -> Tensor
    /// Non-tensor globals a pickle referenced (mmengine/numpy metadata), kept inert; empty for safetensors.
    var opaqueGlobals: [String] { get }
}

extension TensorSource {
    /// The tensor `key`, zero-copy where possible.
    public func tensor(_ key: String) throws -> Tensor { try tensor(key, copy: false) }

    /// `info(for:)` of every key, in key order.
    public func infos() throws -> [WeightInfo] { try keys.map { try info(for: $0) } }

    /// Every tensor, keyed by name (zero-copy where possible unless `copy`, as `tensor(_:copy:)`).
    public func loadAll(copy: Bool = false) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        result.reserveCapacity(keys.count)
        for key in keys { result[key] = try tensor(key, copy: copy) }
        return result
    }
}

/// Name, stored dtype and shape of one tensor of a checkpoint (without reading its data).
public struct WeightInfo: Sendable, Equatable {
    public var name: String
    /// The stored dtype as its safetensors code (F32, BF16, …) or torch name when safetensors has none.
    public var dtype: String
    public var shape: [Int]
    public var byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }

    public init(name: String, dtype: String, shape: [Int], byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteCount = byteCount
    }
}

/// The two checkpoint file formats, with the names Hugging Face gives a folder's single file and shard index.
public enum CheckpointFormat: String, Sendable, Equatable, CaseIterable {
    /// safetensors: `model.safetensors`, `model.safetensors.index.json`.
    case safetensors
    /// PyTorch `torch.save` zip archives: `pytorch_model.bin`, `pytorch_model.bin.index.json`.
    case torch

    /// The file a model folder holds when it is not sharded.
    public var singleFileName: String {
        switch self {
        case .safetensors: return "model.safetensors"
        case .torch: return "pytorch_model.bin"
        }
    }

    /// The index a sharded model folder holds (`{"metadata": {"total_size": N}, "weight_map": {key: shard}}`).
    public var indexFileName: String { singleFileName + ".index.json" }
}

/// Opening the weights of a model folder or file, whatever format they are stored in.
public enum Checkpoint {
    /// The weights at `url`: safetensors (`model.safetensors`, a sharded index, a single file), a `.gguf` file, or PyTorch pickles
    /// read safely (`pytorch_model.bin`, its sharded index, the open_clip `open_clip_pytorch_model.bin`, an
    /// MG-LLaVA `.pth`). Tensors are read lazily, one at a time; the result's `description` is the path opened.
    ///
    /// Folder lookup order: model.safetensors, its index, open_clip_pytorch_model.safetensors, pytorch_model.bin,
    /// its index, open_clip_pytorch_model.bin. A file is read by its kind: `.safetensors` (or
    /// `model.safetensors.index.json`) as safetensors, anything else as a torch zip (or a torch index when `.json`).
    public static func open(_ url: URL) throws -> any TensorSource {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: url.path, operation: "open", errno: ENOENT)
        }
        let (safetensors, torch) = (CheckpointFormat.safetensors, CheckpointFormat.torch)
        if !isDirectory.boolValue {
            if url.pathExtension == "gguf" { return try GGUFFile(path: url.path) }
            if url.pathExtension == "safetensors" || url.lastPathComponent == safetensors.indexFileName {
                return try ShardedSafeTensors.open(url)
            }
            return try ShardedTorchCheckpoint.open(url)
        }
        func exists(_ name: String) -> URL? {
            let u = url.appendingPathComponent(name)
            return fm.fileExists(atPath: u.path) ? u : nil
        }
        if exists(safetensors.singleFileName) != nil || exists(safetensors.indexFileName) != nil {
            return try ShardedSafeTensors.open(url)
        }
        if let file = exists("open_clip_pytorch_model.safetensors") { return try ShardedSafeTensors.open(file) }
        if exists(torch.singleFileName) != nil || exists(torch.indexFileName) != nil {
            return try ShardedTorchCheckpoint.open(url)
        }
        if let file = exists("open_clip_pytorch_model.bin") { return try ShardedTorchCheckpoint.open(file) }
        // The message names the safetensors layout, the first looked for.
        throw CheckpointError.noCheckpoint(directory: url.path, format: .safetensors)
    }
}
