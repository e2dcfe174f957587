import Foundation

/// A Hugging Face safetensors checkpoint: either one `model.safetensors` or shards listed by
/// `model.safetensors.index.json` (`{"metadata": {"total_size": N}, "weight_map": {key: shard file}}`).
///
/// Shards are opened (mapped and validated) on first use, once each; tensors come from `SafeTensorsFile`, so
/// they borrow the mapping where aligned. Safe to use from several threads (the shard cache is behind a lock).
public final class ShardedSafeTensors: @unchecked Sendable {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

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
    private var openShards: [String: SafeTensorsFile] = [:]

    /// Opens a checkpoint from a folder (preferring `model.safetensors` over an index, as transformers does), an
    /// index file, or a single `.safetensors` file.
    public static func open(_ url: URL) throws -> ShardedSafeTensors {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.io(path: url.path, operation: "open", errno: ENOENT)
        }
        if !isDirectory.boolValue {
            return url.pathExtension == "json" ? try ShardedSafeTensors(indexURL: url) : try ShardedSafeTensors(fileURL: url)
        }
        let single = url.appendingPathComponent(singleFileName)
        if FileManager.default.fileExists(atPath: single.path) { return try ShardedSafeTensors(fileURL: single) }
        let index = url.appendingPathComponent(indexFileName)
        if FileManager.default.fileExists(atPath: index.path) { return try ShardedSafeTensors(indexURL: index) }
        throw CheckpointError.noCheckpoint(directory: url.path)
    }

    /// A single-file checkpoint, seen as one shard.
    public init(fileURL: URL) throws {
        let file = try SafeTensorsFile(url: fileURL)
        let name = fileURL.lastPathComponent
        directory = fileURL.deletingLastPathComponent()
        indexURL = nil
        keys = file.keys
        weightMap = Dictionary(uniqueKeysWithValues: file.keys.map { ($0, name) })
        totalSize = nil
        openShards[name] = file
    }

    /// A sharded checkpoint. Reads the index and checks that every shard it names exists; the shards themselves are
    /// mapped on first use.
    public init(indexURL: URL) throws {
        let path = indexURL.path
        let index: ShardIndex
        do {
            index = try ShardIndex.read(indexURL)
        } catch let problem as ShardIndex.Problem {
            switch problem {
            case .io(let operation, let code): throw CheckpointError.io(path: path, operation: operation, errno: code)
            case .notARegularFile: throw CheckpointError.notARegularFile(path: path)
            case .invalid(let offset, let reason): throw CheckpointError.invalidIndex(path: path, offset: offset, reason: reason)
            case .missingShard(let key, let shard): throw CheckpointError.missingShard(indexPath: path, key: key, shard: shard)
            }
        }
        self.directory = index.directory
        self.indexURL = indexURL
        self.weightMap = index.weightMap
        self.keys = index.keys
        self.totalSize = index.totalSize
    }

    // MARK: - Access

    public var count: Int { keys.count }

    public func contains(_ key: String) -> Bool { weightMap[key] != nil }

    /// The shard file names, sorted.
    public var shardNames: [String] { Set(weightMap.values).sorted() }

    /// The shard that holds `key`, opened on first use.
    public func shard(for key: String) throws -> SafeTensorsFile {
        guard let name = weightMap[key] else {
            throw CheckpointError.tensorNotFound(path: (indexURL ?? directory).path, key: key)
        }
        let file = try shard(named: name)
        guard file.contains(key) else {
            throw CheckpointError.shardMissingTensor(indexPath: (indexURL ?? directory).path, shardPath: file.path,
                                                     key: key)
        }
        return file
    }

    /// A shard by file name, opened (mapped and validated) once.
    public func shard(named name: String) throws -> SafeTensorsFile {
        lock.lock()
        defer { lock.unlock() }
        if let file = openShards[name] { return file }
        let file = try SafeTensorsFile(url: directory.appendingPathComponent(name))
        openShards[name] = file
        return file
    }

    public func info(for key: String) throws -> SafeTensorsTensorInfo {
        try shard(for: key).info(for: key)
    }

    /// The tensor `key` (zero-copy where aligned unless `copy`; see `SafeTensorsFile.tensor`).
    public func tensor(_ key: String, copy: Bool = false) throws -> Tensor {
        try shard(for: key).tensor(key, copy: copy)
    }

    /// Every tensor the index names.
    public func loadAll(copy: Bool = false) throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        result.reserveCapacity(keys.count)
        for key in keys { result[key] = try tensor(key, copy: copy) }
        return result
    }

    /// Opens every shard and checks that each holds every key the index maps to it, so a broken checkpoint
    /// fails before loading starts rather than halfway through.
    public func verify() throws {
        for key in keys { _ = try shard(for: key) }
    }
}
