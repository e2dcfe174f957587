import Foundation
import XCTest
@testable import MGCheckpoint

// Builders for hand-made torch.save files: a zip writer (STORED entries laid out as PyTorch's writer does) and a
// pickle writer (opcode by opcode), so each test states exactly the bytes it feeds the reader.

/// Tests/Fixtures/checkpoints/pth (copies of the shared fixtures; see Tests/Fixtures/README.md).
let pthFixtures = checkpointFixtures.appendingPathComponent("pth")

// MARK: - Zip

/// One entry to write.
struct ZipSpec {
    var name: String
    var data: [UInt8]
    /// Compression method written in both headers (the bytes are always stored as given).
    var method: UInt16 = 0
    /// General purpose flags: torch writes bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
    var flags: UInt16 = 0x0808

    init(_ name: String, _ data: [UInt8], method: UInt16 = 0, flags: UInt16 = 0x0808) {
        self.name = name
        self.data = data
        self.method = method
        self.flags = flags
    }

    init(_ name: String, _ text: String) { self.init(name, Array(text.utf8)) }

    /// An entry of `size` zero bytes that are never materialised: written as a hole by `ZipWriter.write(to:)`.
    static func hole(_ name: String, size: Int) -> ZipSpec {
        var spec = ZipSpec(name, [])
        spec.holeSize = size
        return spec
    }

    var holeSize: Int?
    var size: Int { holeSize ?? data.count }
}

/// Where the writer put things, for tests that corrupt specific fields.
struct ZipLayout {
    var localHeaders: [Int] = []
    var dataOffsets: [Int] = []
    var centralHeaders: [Int] = []
    var centralOffset = 0
    var centralSize = 0
    var zip64End: Int?
    var zip64Locator: Int?
    var endRecord = 0
}

/// Writes a zip archive of STORED entries like PyTorch's `PyTorchStreamWriter`: local headers with zero sizes and
/// a data descriptor, an "FB" extra field padding each entry's data to `alignment`, a central directory, and
/// (by default) ZIP64 end records. `forceZip64` saturates the 32-bit fields and moves the values into ZIP64
/// extra fields, as an archive over 4 GiB must.
struct ZipWriter {
    var entries: [ZipSpec]
    var alignment = 64
    /// Bytes added after the alignment padding, to place data deliberately off the boundary.
    var dataShift = 0
    var zip64EndRecords = true
    var forceZip64 = false
    var comment: [UInt8] = []

    init(_ entries: [ZipSpec]) { self.entries = entries }

    func build() -> [UInt8] { buildWithLayout().bytes }

    func buildWithLayout() -> (bytes: [UInt8], layout: ZipLayout) {
        let (chunks, size, layout) = buildChunks()
        var bytes = [UInt8](repeating: 0, count: size)
        for (offset, chunk) in chunks { bytes.replaceSubrange(offset..<(offset + chunk.count), with: chunk) }
        return (bytes, layout)
    }

    /// Writes the archive, leaving hole entries as sparse regions (nothing is written there).
    func write(to url: URL) throws {
        let (chunks, size, _) = buildChunks()
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        for (offset, chunk) in chunks {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(chunk))
        }
        try handle.truncate(atOffset: UInt64(size))
    }

    /// The archive as byte chunks at file offsets (gaps are zero), its total size and layout.
    func buildChunks() -> (chunks: [(Int, [UInt8])], size: Int, layout: ZipLayout) {
        var chunks: [(Int, [UInt8])] = []
        var out: [UInt8] = []
        var base = 0  // file offset of out[0]
        var layout = ZipLayout()
        var crcs: [UInt32] = []
        for entry in entries {
            let header = base + out.count
            layout.localHeaders.append(header)
            let name = Array(entry.name.utf8)
            let crc = entry.holeSize == nil ? crc32(entry.data) : 0
            crcs.append(crc)
            let descriptor = entry.flags & 0x0008 != 0
            var extra: [UInt8] = []
            if alignment > 1 || dataShift > 0 {
                let unpadded = header + 30 + name.count + 4
                let padding = (alignment - unpadded % alignment) % alignment + dataShift
                extra = le16(0x4246) + le16(UInt16(padding)) + [UInt8](repeating: 0x5A, count: padding)
            }
            out += le32(0x0403_4B50) + le16(20) + le16(entry.flags) + le16(entry.method) + le16(0) + le16(0)
            out +=
                descriptor
                ? le32(0) + le32(0) + le32(0)
                : le32(crc) + le32(UInt32(entry.data.count))
                    + le32(UInt32(entry.data.count))
            out += le16(UInt16(name.count)) + le16(UInt16(extra.count)) + name + extra
            layout.dataOffsets.append(base + out.count)
            if let hole = entry.holeSize {
                chunks.append((base, out))
                base += out.count + hole
                out = []
            } else {
                out += entry.data
            }
            if descriptor {
                out += le32(0x0807_4B50) + le32(crc)
                let size32 = le32(UInt32(truncatingIfNeeded: entry.size))
                out += forceZip64 ? le64(UInt64(entry.size)) + le64(UInt64(entry.size)) : size32 + size32
            }
        }
        layout.centralOffset = base + out.count
        for (i, entry) in entries.enumerated() {
            layout.centralHeaders.append(base + out.count)
            let name = Array(entry.name.utf8)
            let size = UInt64(entry.size), offset = UInt64(layout.localHeaders[i])
            let extra = forceZip64 ? le16(1) + le16(24) + le64(size) + le64(size) + le64(offset) : []
            out += le32(0x0201_4B50) + le16(0x031E) + le16(forceZip64 ? 45 : 20) + le16(entry.flags)
            out += le16(entry.method) + le16(0) + le16(0) + le32(crcs[i])
            out += forceZip64 ? le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) : le32(UInt32(size)) + le32(UInt32(size))
            out += le16(UInt16(name.count)) + le16(UInt16(extra.count)) + le16(0) + le16(0) + le16(0) + le32(0)
            out += forceZip64 ? le32(0xFFFF_FFFF) : le32(UInt32(offset))
            out += name + extra
        }
        layout.centralSize = base + out.count - layout.centralOffset
        let count = UInt64(entries.count)
        if zip64EndRecords || forceZip64 {
            let record = base + out.count
            layout.zip64End = record
            out += le32(0x0606_4B50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0) + le64(count) + le64(count)
            out += le64(UInt64(layout.centralSize)) + le64(UInt64(layout.centralOffset))
            layout.zip64Locator = base + out.count
            out += le32(0x0706_4B50) + le32(0) + le64(UInt64(record)) + le32(1)
        }
        layout.endRecord = base + out.count
        let count16: UInt16 = forceZip64 ? 0xFFFF : UInt16(count)
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(count16) + le16(count16)
        out +=
            forceZip64
            ? le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF)
            : le32(UInt32(layout.centralSize)) + le32(UInt32(layout.centralOffset))
        out += le16(UInt16(comment.count)) + comment
        chunks.append((base, out))
        return (chunks, base + out.count, layout)
    }
}

func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// Overwrites bytes at `offset` (for targeted corruption).
func patch(_ bytes: inout [UInt8], at offset: Int, _ value: [UInt8]) {
    bytes.replaceSubrange(offset..<(offset + value.count), with: value)
}

/// CRC-32 (IEEE), so the archives are valid for other zip readers too.
func crc32(_ data: [UInt8]) -> UInt32 {
    data.withUnsafeBufferPointer { bytes in
        crc32Table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            return ~crc
        }
    }
}

private let crc32Table: [UInt32] = (0..<256).map { (n: UInt32) -> UInt32 in
    var c = n
    for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
    return c
}

// MARK: - Pickle

/// Writes pickle opcodes. Methods append one opcode (or a short, torch-shaped sequence) each.
struct PickleWriter {
    var bytes: [UInt8] = []

    init(protocol version: UInt8? = 2) {
        if let version { bytes = [0x80, version] }
    }

    mutating func raw(_ values: [UInt8]) { bytes += values }
    mutating func op(_ code: UInt8, _ payload: [UInt8] = []) { bytes += [code] + payload }

    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
    mutating func none() { op(0x4E) }
    mutating func bool(_ value: Bool) { op(value ? 0x88 : 0x89) }

    mutating func int(_ value: Int) {
        if (0..<256).contains(value) {
            op(0x4B, [UInt8(value)])
        } else if (0..<65536).contains(value) {
            op(0x4D, le16(UInt16(value)))
        } else if let small = Int32(exactly: value) {
            op(0x4A, le32(UInt32(bitPattern: small)))
        } else {
            op(0x8A, [8] + le64(UInt64(bitPattern: Int64(value))))  // LONG1
        }
    }

    mutating func float(_ value: Double) {
        op(0x47, withUnsafeBytes(of: value.bitPattern.bigEndian) { Array($0) })
    }

    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        op(0x58, le32(UInt32(utf8.count)) + utf8)
    }

    mutating func bytesValue(_ data: [UInt8]) {
        op(0x43, [UInt8(data.count)] + data)  // SHORT_BINBYTES (protocol 3)
    }

    mutating func global(_ module: String, _ name: String) {
        op(0x63, Array("\(module)\n\(name)\n".utf8))
    }

    mutating func tuple() { op(0x74) }  // items since MARK
    mutating func emptyTuple() { op(0x29) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func emptyList() { op(0x5D) }
    mutating func list() { op(0x6C) }  // items since MARK
    mutating func emptyDict() { op(0x7D) }
    mutating func append() { op(0x61) }
    mutating func appends() { op(0x65) }
    mutating func setItem() { op(0x73) }
    mutating func setItems() { op(0x75) }
    mutating func reduce() { op(0x52) }
    mutating func build() { op(0x62) }
    mutating func newObj() { op(0x81) }
    mutating func binPersID() { op(0x51) }
    mutating func pop() { op(0x30) }
    mutating func dup() { op(0x32) }
    mutating func put(_ index: UInt8) { op(0x71, [index]) }
    mutating func get(_ index: UInt8) { op(0x68, [index]) }

    /// A tuple of ints (sizes, strides).
    mutating func ints(_ values: [Int]) {
        mark()
        for v in values { int(v) }
        tuple()
    }

    /// `OrderedDict()` as torch writes it.
    mutating func orderedDict() {
        global("collections", "OrderedDict")
        emptyTuple()
        reduce()
    }

    /// The persistent id torch.save writes for a storage: ('storage', torch.<cls>, key, 'cpu', numel).
    mutating func storage(_ cls: String, key: String, numel: Int) {
        mark()
        string("storage")
        global("torch", cls)
        string(key)
        string("cpu")
        int(numel)
        tuple()
        binPersID()
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
    mutating func tensor(
        _ cls: String = "FloatStorage", key: String, numel: Int, offset: Int = 0, shape: [Int],
        stride: [Int]? = nil
    ) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        storage(cls, key: key, numel: numel)
        int(offset)
        ints(shape)
        ints(stride ?? contiguousStride(shape))
        bool(false)
        orderedDict()
        tuple()
        reduce()
    }

    /// `{key: tensor, …}` as an OrderedDict: call between `beginStateDict` and `endStateDict`, with a key string
    /// then a value per entry.
    mutating func beginStateDict() {
        orderedDict()
        mark()
    }

    mutating func endStateDict() { setItems() }
}

func contiguousStride(_ shape: [Int]) -> [Int] {
    var stride = [Int](repeating: 1, count: shape.count)
    var step = 1
    for d in stride.indices.reversed() {
        stride[d] = step
        step *= max(shape[d], 1)
    }
    return stride
}

/// A torch.save archive: `<folder>/data.pkl`, byteorder, `data/<key>` storages (sorted by key as torch writes
/// them), version.
func torchArchive(
    _ pickle: [UInt8], storages: [String: [UInt8]] = [:], folder: String = "archive",
    byteOrder: String? = "little", alignment: Int = 64, dataShift: Int = 0,
    forceZip64: Bool = false
) -> [UInt8] {
    var entries = [ZipSpec(folder + "/data.pkl", pickle)]
    if let byteOrder { entries.append(ZipSpec(folder + "/byteorder", byteOrder)) }
    for key in storages.keys.sorted() { entries.append(ZipSpec(folder + "/data/" + key, storages[key] ?? [])) }
    entries.append(ZipSpec(folder + "/version", "3\n"))
    var writer = ZipWriter(entries)
    writer.alignment = alignment
    writer.dataShift = dataShift
    writer.forceZip64 = forceZip64
    return writer.build()
}

/// Little-endian bytes of float32 values.
func f32Bytes(_ values: [Float]) -> [UInt8] { values.flatMap { le32($0.bitPattern) } }

/// Opens in-memory bytes as a torch checkpoint.
func openTorch(_ bytes: [UInt8], name: String = "test.pth") throws -> TorchCheckpointFile {
    try TorchCheckpointFile(bytes: bytes, name: name)
}

/// Runs `body` and returns the CheckpointError it throws; fails the test if it succeeds or throws anything else.
@discardableResult
func expectTorchError<T>(
    _ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line
)
    -> CheckpointError?
{
    do {
        _ = try body()
        XCTFail("expected a CheckpointError, but it succeeded", file: file, line: line)
    } catch let error as CheckpointError {
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
    return nil
}

/// The error from opening `bytes`, with its message checked to contain each of `fragments`.
@discardableResult
func openError(
    _ bytes: [UInt8], _ fragments: String..., file: StaticString = #filePath, line: UInt = #line
)
    -> CheckpointError?
{
    let error = expectTorchError({ try openTorch(bytes) }, file: file, line: line)
    if let error {
        for fragment in fragments where !error.description.contains(fragment) {
            XCTFail("message lacks '\(fragment)': \(error.description)", file: file, line: line)
        }
    }
    return error
}

/// A one-tensor state dict `{'w': tensor}` over storage "0".
func oneTensorPickle(
    _ cls: String = "FloatStorage", numel: Int, offset: Int = 0, shape: [Int],
    stride: [Int]? = nil
) -> [UInt8] {
    var p = PickleWriter()
    p.beginStateDict()
    p.string("w")
    p.tensor(cls, key: "0", numel: numel, offset: offset, shape: shape, stride: stride)
    p.endStateDict()
    p.stop()
    return p.bytes
}
