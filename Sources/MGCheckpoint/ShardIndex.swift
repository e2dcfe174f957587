import Foundation
import MGJSON
#if canImport(Glibc)
    import Glibc
    private let systemRead = Glibc.read
#elseif canImport(Darwin)
    import Darwin
    private let systemRead = Darwin.read
#endif

/// The `*.index.json` of a sharded HF checkpoint (`model.safetensors.index.json`, `pytorch_model.bin.index.json`),
/// read once for both formats and written once for `SafeTensorsWriter.writeSharded`: "weight_map" (required) an
/// object of string → string; "metadata" (optional) whose "total_size", if present, is a non-negative integer;
/// other fields ignored, as transformers does. Every shard it names must be a plain file name beside the index (an
/// absolute path or ".." could point outside the checkpoint and counts as missing).
struct ShardIndex {
    let directory: URL
    let weightMap: [String: String]
    let totalSize: Int?
    /// Keys in sorted order.
    let keys: [String]

    /// Reads and checks the index at `indexURL`; errors name it.
    static func read(_ indexURL: URL) throws -> ShardIndex {
        let path = indexURL.path
        let (weightMap, totalSize) = try parse(try readFile(path), path: path)
        let directory = indexURL.deletingLastPathComponent()
        // Check each shard once, reporting the first key (in key order) that points at a missing one.
        let keys = weightMap.keys.sorted()
        var checked = Set<String>()
        for key in keys {
            let shard = weightMap[key] ?? ""
            guard checked.insert(shard).inserted else { continue }
            let isPlainName = !shard.isEmpty && !shard.hasPrefix("/") && !shard.split(separator: "/").contains("..")
            var isDirectory: ObjCBool = false
            guard isPlainName,
                FileManager.default.fileExists(
                    atPath: directory.appendingPathComponent(shard).path,
                    isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { throw CheckpointError.missingShard(indexPath: path, key: key, shard: shard) }
        }
        return ShardIndex(directory: directory, weightMap: weightMap, totalSize: totalSize, keys: keys)
    }

    private static func parse(_ data: [UInt8], path: String) throws -> ([String: String], Int?) {
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            if let bad = UTF8Text.firstInvalidOffset(in: bytes) {
                throw CheckpointError.invalidIndex(path: path, offset: bad, reason: "not valid UTF-8")
            }
            var reader = JSONReader(bytes)
            var weightMap: [String: String]?
            var totalSize: Int?
            do {
                try reader.readObject("the index") { reader, field in
                    switch field {
                    case "weight_map":
                        var map: [String: String] = [:]
                        try reader.readObject("weight_map") { reader, key in
                            map[key] = try reader.readString("weight_map entry '\(key)'")
                        }
                        weightMap = map
                    case "metadata":
                        if try reader.consumeNull() { return }
                        try reader.readObject("metadata") { reader, name in
                            guard name == "total_size" else { return try reader.skipValue() }
                            let offset = reader.position
                            let value = try reader.readNumber("metadata.total_size")
                            guard value >= 0, value < 0x1p63, value.rounded() == value else {
                                throw reader.error("metadata.total_size must be a non-negative integer", at: offset)
                            }
                            totalSize = Int(value)
                        }
                    default:
                        try reader.skipValue()
                    }
                }
                try reader.expectEnd()
            } catch let error as JSONParseError {
                throw CheckpointError.invalidIndex(path: path, offset: error.offset, reason: error.message)
            }
            guard let weightMap else {
                throw CheckpointError.invalidIndex(path: path, offset: 0, reason: "missing field 'weight_map'")
            }
            return (weightMap, totalSize)
        }
    }

    /// The whole of a (small) regular file, with errno-precise errors.
    private static func readFile(_ path: String) throws -> [UInt8] {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointError.io(path: path, operation: "fstat", errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.notARegularFile(path: path) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.io(path: path, operation: "read", errno: errno)
            }
            if got == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<got])
        }
    }

    /// The index file's bytes for `weightMap` and `totalSize`, as the writers here have always written them:
    /// Foundation's pretty-printed JSON with sorted keys (no trailing newline).
    static func encode(weightMap: [String: String], totalSize: Int) throws -> Data {
        let index: [String: Any] = ["metadata": ["total_size": totalSize], "weight_map": weightMap]
        return try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
    }
}
