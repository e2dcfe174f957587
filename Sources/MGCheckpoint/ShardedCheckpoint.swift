import Foundation

/// One file of a checkpoint, as `ShardedCheckpoint` reads it: `SafeTensorsFile` or `TorchCheckpointFile`.
public protocol CheckpointFile: AnyObject, Sendable {
    /// The format, which names a folder's single file and index.
    static var format: CheckpointFormat { get }
    /// Opens (maps and validates) the file at `url`.
    init(url: URL) throws
    /// The path as given; errors quote it.
    var path: String { get }
    /// The file's tensor keys, in the file's order (throws when a torch file holds no state dict).
    func tensorKeys() throws -> [String]
    func contains(_ key: String) -> Bool
    /// Name, stored dtype, shape and byte count of `key`, without reading its data.
    func weightInfo(for key: String) throws -> WeightInfo
    /// The tensor `key` (zero-copy where possible unless `copy`).
    func tensor(_ key: String, copy: Bool) throws -> Tensor
    /// Non-tensor globals a pickle referenced; empty for safetensors.
    var opaqueGlobals: [String] { get }
}

extension CheckpointFile {
    public var opaqueGlobals: [String] { [] }
}

/// A Hugging Face safetensors checkpoint: either one `model.safetensors` or shards listed by
/// `model.safetensors.index.json`.
public typealias ShardedSafeTensors = ShardedCheckpoint<SafeTensorsFile>

/// A Hugging Face PyTorch-pickle checkpoint: either one `pytorch_model.bin` (or any `.bin`/`.pth`) or shards listed
/// by `pytorch_model.bin.index.json`, as Vicuna-1.5's `pytorch_model-0000N-of-0000M.bin` files.
public typealias ShardedTorchCheckpoint = ShardedCheckpoint<TorchCheckpointFile>

/// A checkpoint in one format, either one file or shards listed by an index
/// (`{"metadata": {"total_size": N}, "weight_map": {key: shard file}}`, the same for both formats) — a single file
/// is seen as one shard, so callers need not care which.
///
/// Shards are opened (mapped and validated) on first use, once each; tensors come from `File`, so they borrow the
/// mapping where possible. Safe to use from several threads (the shard cache is behind a lock).
public final class ShardedCheckpoint<File: CheckpointFile>: TensorSource, @unchecked Sendable {
    /// The file a model folder holds when it is not sharded (`model.safetensors`, `pytorch_model.bin`).
    public static var singleFileName: String { File.format.singleFileName }
    /// The index of a sharded folder (`model.safetensors.index.json`, `pytorch_model.bin.index.json`).
    public static var indexFileName: String { File.format.indexFileName }

    /// What was opened: the folder, index or file given to `open` or an initialiser; `description` is its path.
    public let source: URL
    /// The folder holding the shards.
    public let directory: URL
    /// The index file, or nil for a single-file checkpoint.
    public let indexURL: URL?
    /// Tensor key → shard file name (relative to `directory`).
    public let weightMap: [String: String]
    /// Tensor keys, sorted.
    public let keys: [String]
    /// The index's `metadata.total_size` (bytes of tensor data), when given.
    public let totalSize: Int?

    private let lock = NSLock()
    private var openShards: [String: File] = [:]

    /// Opens a checkpoint from a folder (preferring the single file over an index, as transformers does), an
    /// index file (`.json`), or a single file.
    public static func open(_ url: URL) throws -> ShardedCheckpoint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: url.path, operation: "open", errno: ENOENT)
        }
        if !isDirectory.boolValue {
            return url.pathExtension == "json"
                ? try ShardedCheckpoint(indexURL: url, source: url)
                : try ShardedCheckpoint(fileURL: url, source: url)
        }
        let single = url.appendingPathComponent(singleFileName)
        if FileManager.default.fileExists(atPath: single.path) {
            return try ShardedCheckpoint(fileURL: single, source: url)
        }
        let index = url.appendingPathComponent(indexFileName)
        if FileManager.default.fileExists(atPath: index.path) {
            return try ShardedCheckpoint(indexURL: index, source: url)
        }
        throw CheckpointError.noCheckpoint(directory: url.path, format: File.format)
    }

    /// A single-file checkpoint, seen as one shard.
    public convenience init(fileURL: URL) throws {
        try self.init(fileURL: fileURL, source: fileURL)
    }

    /// A sharded checkpoint. Reads the index and checks that every shard it names exists; the shards themselves are
    /// opened on first use.
    public convenience init(indexURL: URL) throws {
        try self.init(indexURL: indexURL, source: indexURL)
    }

    private init(fileURL: URL, source: URL) throws {
        let file = try File(url: fileURL)
        let name = fileURL.lastPathComponent
        let fileKeys = try file.tensorKeys()
        self.source = source
        directory = fileURL.deletingLastPathComponent()
        indexURL = nil
        keys = fileKeys.sorted()
        weightMap = Dictionary(fileKeys.map { ($0, name) }, uniquingKeysWith: { first, _ in first })
        totalSize = nil
        openShards[name] = file
    }

    private init(indexURL: URL, source: URL) throws {
        let index = try ShardIndex.read(indexURL)
        self.source = source
        self.directory = index.directory
        self.indexURL = indexURL
        self.weightMap = index.weightMap
        self.keys = index.keys
        self.totalSize = index.totalSize
    }

    // MARK: - Access

    public var description: String { source.path }

    public var count: Int { keys.count }

    public func contains(_ key: String) -> Bool { weightMap[key] != nil }

    /// The shard file names, sorted.
    public var shardNames: [String] { Set(weightMap.values).sorted() }

    /// The shard that holds `key`, opened on first use.
    public func shard(for key: String) throws -> File {
        guard let name = weightMap[key] else {
            throw CheckpointError.tensorNotFound(path: (indexURL ?? directory).path, key: key)
        }
        let file = try shard(named: name)
        guard file.contains(key) else {
            throw CheckpointError.shardMissingTensor(
                indexPath: (indexURL ?? directory).path, shardPath: file.path,
                key: key)
        }
        return file
    }

    /// A shard by file name, opened (mapped and validated) once.
    public func shard(named name: String) throws -> File {
        lock.lock()
        defer { lock.unlock() }
        if let file = openShards[name] { return file }
        let file = try File(url: directory.appendingPathComponent(name))
        openShards[name] = file
        return file
    }

    public func info(for key: String) throws -> WeightInfo {
        try shard(for: key).weightInfo(for: key)
    }

    /// The tensor `key` (zero-copy where possible unless `copy`; see `SafeTensorsFile` / `TorchCheckpointFile`).
    public func tensor(_ key: String, copy: Bool) throws -> Tensor {
        try shard(for: key).tensor(key, copy: copy)
    }

    /// The non-tensor globals of every shard (each is opened; one that fails to open adds none), sorted.
    public var opaqueGlobals: [String] {
        var names = Set<String>()
        for shard in shardNames { names.formUnion((try? self.shard(named: shard).opaqueGlobals) ?? []) }
        return names.sorted()
    }

    /// Opens every shard and checks that each holds every key the index maps to it, so a broken checkpoint
    /// fails before loading starts rather than halfway through.
    public func verify() throws {
        for key in keys { _ = try shard(for: key) }
    }
}

extension SafeTensorsFile: CheckpointFile {
    public static var format: CheckpointFormat { .safetensors }

    public func tensorKeys() -> [String] { keys }

    public func weightInfo(for key: String) throws -> WeightInfo {
        let info = try info(for: key)
        return WeightInfo(name: key, dtype: info.dtype.rawValue, shape: info.shape, byteCount: info.byteCount)
    }
}

extension TorchCheckpointFile: CheckpointFile {
    public static var format: CheckpointFormat { .torch }

    public func tensorKeys() throws -> [String] { try keys() }

    /// The dtype is named by its safetensors code where it has one, else by torch's name.
    public func weightInfo(for key: String) throws -> WeightInfo {
        let info = try info(for: key)
        return WeightInfo(
            name: key, dtype: info.dtype.safetensors?.rawValue ?? info.dtype.description,
            shape: info.shape, byteCount: info.byteCount)
    }
}
