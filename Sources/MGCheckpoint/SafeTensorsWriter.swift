import Foundation
#if canImport(Glibc)
    import Glibc
    /// POSIX write(2); the enum's own `write` hides the unqualified name.
    private let systemWrite = Glibc.write
#elseif canImport(Darwin)
    import Darwin
    private let systemWrite = Darwin.write
#endif

/// Writes safetensors files the way the reference's `serialize` / `serialize_file` does, byte for byte: tensors
/// ordered by dtype alignment (largest first: I64, F32, I32, BF16, F16, U8, BOOL) then by key, so every tensor
/// stays aligned for its element size when the file is mapped; compact JSON header with `__metadata__` first,
/// padded with spaces to a multiple of 8 bytes.
///
/// `write` is atomic: the file is written to a temporary file in the destination's folder, fsync'd, and renamed
/// over the destination, so a reader sees either the old file or the complete new one — never a partial write.
public enum SafeTensorsWriter {
    /// The file as bytes (for small files and tests; `write` streams instead).
    public static func serialize(_ tensors: [String: Tensor], metadata: [String: String]? = nil) throws -> [UInt8] {
        let layout = try Layout(
            tensors, metadata: metadata, path: "<memory>",
            headerLimit: SafeTensorsHeader.maxHeaderLength)
        var bytes = layout.prefix
        bytes.reserveCapacity(layout.prefix.count + layout.dataLength)
        for (_, tensor, count) in layout.ordered {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: tensor.storage.pointer, count: count))
        }
        return bytes
    }

    /// Writes `tensors` (and optional `__metadata__`) to `url` atomically. On failure the destination is left as
    /// it was and the temporary file is removed.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String]? = nil, to url: URL) throws {
        try write(tensors, metadata: metadata, to: url, headerLimit: SafeTensorsHeader.maxHeaderLength)
    }

    /// `write` with the header size limit as a parameter, so tests can provoke a refused write without building
    /// a 100 MB header.
    static func write(_ tensors: [String: Tensor], metadata: [String: String]?, to url: URL, headerLimit: UInt64) throws
    {
        let layout = try Layout(tensors, metadata: metadata, path: url.path, headerLimit: headerLimit)
        try atomicWrite(to: url) { fd, tempPath in
            try layout.prefix.withUnsafeBytes { try writeAll(fd, $0, path: tempPath) }
            for (_, tensor, count) in layout.ordered {
                try writeAll(fd, UnsafeRawBufferPointer(start: tensor.storage.pointer, count: count), path: tempPath)
            }
        }
    }

    /// Runs `body` on a new temporary file beside `url` (its descriptor and path), then fsyncs it and renames it
    /// over `url`. On failure the destination is left as it was and the temporary file is removed.
    static func atomicWrite(to url: URL, _ body: (Int32, String) throws -> Void) throws {
        let path = url.path
        let folder = url.deletingLastPathComponent().path
        let (fd, tempPath) = try createTemporaryFile(beside: url)
        do {
            try body(fd, tempPath)
            guard fsync(fd) == 0 else { throw CheckpointError.io(path: tempPath, operation: "fsync", errno: errno) }
        } catch {
            close(fd)
            unlink(tempPath)
            throw error
        }
        // close can report a deferred write error (NFS); treat it as a failed write.
        guard close(fd) == 0 else {
            let code = errno
            unlink(tempPath)
            throw CheckpointError.io(path: tempPath, operation: "close", errno: code)
        }
        guard rename(tempPath, path) == 0 else {
            let code = errno
            unlink(tempPath)
            throw CheckpointError.io(path: path, operation: "rename", errno: code)
        }
        // Make the rename itself durable. Best effort: the new file is already in place and complete, and if
        // the directory entry were lost in a crash the old file would still be there intact.
        let dirFD = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    // MARK: - Sharded

    /// Writes a checkpoint in Hugging Face's sharded layout into `directory` (which must exist):
    /// `model-00001-of-0000N.safetensors`, … plus `model.safetensors.index.json` holding `metadata.total_size` (the
    /// bytes of tensor data written) and `weight_map` (key → shard file). When everything fits one shard and
    /// `indexSingleShard` is false, it writes a lone `model.safetensors` and no index, as transformers'
    /// `save_pretrained` does.
    ///
    /// `entries` fixes the order and the split: shards fill in that order, and a new one starts when the next
    /// tensor would take the current one past `maxShardBytes` (a larger tensor gets a shard of its own);
    /// `byteCount` is what the split counts. `tensor` is asked for each key in that order, one shard at a time,
    /// so only one shard's tensors need be in memory. Each shard is written atomically (as `write`) and the index
    /// last, atomically too, so the index never names a shard that is not complete. `didWriteShard` gets each
    /// file name once it is in place. Returns the shard file names, in order.
    @discardableResult
    public static func writeSharded(
        _ entries: [(key: String, byteCount: Int)], maxShardBytes: Int,
        metadata: [String: String]? = nil, indexSingleShard: Bool = false,
        to directory: URL, tensor: (String) throws -> Tensor,
        didWriteShard: (String) -> Void = { _ in }
    ) throws -> [String] {
        guard maxShardBytes > 0 else {
            throw CheckpointError.invalidWrite(
                path: directory.path,
                reason: "the shard size limit must be positive, got \(maxShardBytes)")
        }
        var seen = Set<String>()
        var shards: [[String]] = [[]]
        var size = 0
        for (key, bytes) in entries {
            guard seen.insert(key).inserted else {
                throw CheckpointError.invalidWrite(path: directory.path, reason: "tensor '\(key)' is listed twice")
            }
            if size + bytes > maxShardBytes && !shards[shards.count - 1].isEmpty { shards.append([]); size = 0 }
            shards[shards.count - 1].append(key)
            size += bytes
        }
        let format = CheckpointFormat.safetensors
        let single = shards.count == 1 && !indexSingleShard
        var weightMap: [String: String] = [:]
        var names: [String] = []
        var total = 0
        for (i, keys) in shards.enumerated() {
            let name =
                single
                ? format.singleFileName
                : String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            var tensors: [String: Tensor] = [:]
            for key in keys {
                let value = try tensor(key)
                tensors[key] = value
                weightMap[key] = name
                total += value.count * value.dtype.size
            }
            try write(tensors, metadata: metadata, to: directory.appendingPathComponent(name))
            names.append(name)
            didWriteShard(name)
        }
        if !single {
            try ShardIndex.encode(weightMap: weightMap, totalSize: total)
                .write(to: directory.appendingPathComponent(format.indexFileName), options: .atomic)
        }
        return names
    }

    /// `writeSharded` for tensors in memory, split in key order by their data sizes.
    @discardableResult
    public static func writeSharded(
        _ tensors: [String: Tensor], maxShardBytes: Int, metadata: [String: String]? = nil,
        indexSingleShard: Bool = false, to directory: URL
    ) throws -> [String] {
        let entries = tensors.keys.sorted().map { key in
            (key: key, byteCount: tensors[key].map { $0.count * $0.dtype.size } ?? 0)
        }
        return try writeSharded(
            entries, maxShardBytes: maxShardBytes, metadata: metadata,
            indexSingleShard: indexSingleShard, to: directory
        ) { key in
            guard let value = tensors[key] else { preconditionFailure("key '\(key)' comes from the dictionary") }
            return value
        }
    }

    // MARK: - Layout

    /// Header bytes and data order, computed once for both `serialize` and `write`.
    private struct Layout {
        /// 8-byte length + padded JSON header.
        var prefix: [UInt8]
        /// (key, tensor, byte count) in file order.
        var ordered: [(String, Tensor, Int)]
        var dataLength: Int

        init(_ tensors: [String: Tensor], metadata: [String: String]?, path: String, headerLimit: UInt64) throws {
            var entries: [(String, Tensor, Int)] = []
            entries.reserveCapacity(tensors.count)
            for (key, tensor) in tensors {
                guard key != "__metadata__" else {
                    throw CheckpointError.invalidWrite(
                        path: path, reason: "'__metadata__' is reserved, not a tensor key")
                }
                guard SafeTensorsDType(tensor.dtype) != nil else {
                    throw CheckpointError.invalidWrite(
                        path: path,
                        reason:
                            "tensor '\(key)': \(tensor.dtype.rawValue) is a GGUF block type, not a safetensors dtype "
                            + "(dequantize it, or write a GGUF file)")
                }
                let count = tensor.count * tensor.dtype.size
                guard tensor.storage.byteCount >= count else {
                    throw CheckpointError.invalidWrite(
                        path: path,
                        reason: "tensor '\(key)': storage of \(tensor.storage.byteCount) bytes is smaller "
                            + "than shape \(tensor.shape) × \(tensor.dtype.rawValue)")
                }
                entries.append((key, tensor, count))
            }
            // The reference's order: dtype alignment descending (its Dtype enum order), then key bytes.
            entries.sort { a, b in
                let (ra, rb) = (Self.alignmentRank(a.1.dtype), Self.alignmentRank(b.1.dtype))
                if ra != rb { return ra > rb }
                return a.0.utf8.lexicographicallyPrecedes(b.0.utf8)
            }

            var json = "{"
            if let metadata {
                json += "\"__metadata__\":{"
                let names = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                json += names.map { "\(Self.quoted($0)):\(Self.quoted(metadata[$0] ?? ""))" }.joined(separator: ",")
                json += "}"
                if !entries.isEmpty { json += "," }
            }
            var offset = 0
            var members: [String] = []
            members.reserveCapacity(entries.count)
            for (key, tensor, count) in entries {
                let end = offset + count
                let shape = tensor.shape.map(String.init).joined(separator: ",")
                members.append(
                    "\(Self.quoted(key)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                        + "\"data_offsets\":[\(offset),\(end)]}")
                offset = end
            }
            json += members.joined(separator: ",") + "}"

            var header = Array(json.utf8)
            let padded = (header.count + 7) / 8 * 8
            header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padded - header.count))
            // The reference refuses to write what it would refuse to read.
            guard UInt64(header.count) <= headerLimit else {
                throw CheckpointError.invalidWrite(
                    path: path, reason: "header of \(header.count) bytes exceeds the \(headerLimit)-byte limit")
            }
            var prefix = [UInt8]()
            prefix.reserveCapacity(8 + header.count)
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix.append(contentsOf: $0) }
            prefix.append(contentsOf: header)
            self.prefix = prefix
            self.ordered = entries
            self.dataLength = offset
        }

        /// Position in the reference's `Dtype` enum, which is declared in increasing alignment order.
        static func alignmentRank(_ dtype: DType) -> Int {
            SafeTensorsDType(dtype).flatMap { SafeTensorsDType.allCases.firstIndex(of: $0) } ?? 0
        }

        /// A JSON string literal escaped as serde_json does: `"` and `\`, short escapes for \b \f \n \r \t,
        /// \u00xx (lowercase hex) for other control characters; everything else, non-ASCII included, verbatim.
        static func quoted(_ text: String) -> String {
            var out = [UInt8(ascii: "\"")]
            out.reserveCapacity(text.utf8.count + 2)
            let hex = Array("0123456789abcdef".utf8)
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
                case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
                case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0x00..<0x20:
                    out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
            return String(decoding: out, as: UTF8.self)
        }
    }

    // MARK: - Files

    /// Creates `.<name>.tmp-<pid>-<random>` beside `url`, exclusively (O_EXCL), so concurrent writers never share one.
    private static func createTemporaryFile(beside url: URL) throws -> (Int32, String) {
        let folder = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        var lastError: Int32 = EEXIST
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let tempPath = (folder.isEmpty ? "" : folder + "/") + ".\(name).tmp-\(getpid())-\(suffix)"
            let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (fd, tempPath) }
            lastError = errno
            if lastError != EEXIST { break }
        }
        throw CheckpointError.io(path: url.path, operation: "create temporary file", errno: lastError)
    }

    /// Writes all of `buffer`, in chunks below Linux's 2 GiB per-call limit, retrying on EINTR and short writes.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        guard var pointer = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            let written = systemWrite(fd, pointer, min(remaining, 1 << 30))
            if written < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.io(path: path, operation: "write", errno: errno)
            }
            pointer += written
            remaining -= written
        }
    }
}
