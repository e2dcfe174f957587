import Foundation

/// Dtype, shape and layout of one tensor in a torch.save file, read without touching its data.
public struct TorchTensorInfo: Equatable, Sendable {
    /// The state-dict key (empty for a tensor reached through `PickleValue.tensorInfo`).
    public let name: String
    /// The stored element type.
    public let dtype: TorchDType
    public let shape: [Int]
    /// In elements, as torch records it.
    public let stride: [Int]
    /// In elements, from the start of the storage.
    public let storageOffset: Int
    /// The storage's archive key: the data is entry `<folder>/data/<storageKey>`.
    public let storageKey: String
    public let elementCount: Int

    /// The `Tensor` dtype the tensor loads as (see `TorchDType.loadDType`), nil when it cannot be loaded.
    public var loadDType: DType? { dtype.loadDType }
    public var byteCount: Int { elementCount * dtype.elementSize }

    /// Row-major with no gaps (dimensions of size 1 may have any stride, as torch allows).
    public var isContiguous: Bool { Self.isContiguous(shape: shape, stride: stride) }

    init(name: String, record: TorchTensorRecord, storage: TorchStorageRecord) {
        self.name = name
        self.dtype = record.dtype
        self.shape = record.shape
        self.stride = record.stride
        self.storageOffset = record.storageOffset
        self.storageKey = storage.key
        self.elementCount = record.elementCount
    }

    static func isContiguous(shape: [Int], stride: [Int]) -> Bool {
        var expected = 1
        for (size, step) in zip(shape, stride).reversed() where size != 1 {
            guard step == expected else { return false }
            expected *= size  // cannot overflow: the element count was checked
        }
        return true
    }
}

/// A PyTorch `torch.save` checkpoint (`.pth`, `.bin`; the zip format of PyTorch ≥ 1.6), read without executing
/// any pickle code.
///
/// The file is memory-mapped; opening it reads the zip directory and unpickles `data.pkl` (a few kilobytes even
/// for a 13 GB checkpoint). Tensors are materialised on request: a contiguous little-endian tensor whose dtype
/// `Tensor` supports borrows the mapping (no copy; its `Storage` keeps this object alive), anything else is
/// copied (strided views gathered, big-endian data byte-swapped, float64 narrowed to float32, int8/int16/uint16
/// widened to int32, uint32 to int64). The mapping is read-only: ask for `copy: true` for weights an optimizer
/// will update in place.
///
/// What the pickle holds is available as a read-only value tree (`root`); `stateDict()` finds the tensors of
/// the usual layouts. Immutable after `init`, so one file may be read from several threads.
public final class TorchCheckpointFile: @unchecked Sendable {
    /// The path as given (or the name given to an in-memory buffer); errors quote it.
    public let path: String
    /// The archive's top folder: the file's stem when torch.save wrote to a path, `archive` for a file object.
    public let archiveName: String
    /// True when the `byteorder` entry says "big" (tensors are then byte-swapped on load).
    public let isBigEndian: Bool
    /// The `version` entry ("3" for current PyTorch), when present.
    public let version: String?
    /// Globals the pickle mentions that this reader neither understands nor refuses, in first-seen order
    /// (e.g. `numpy.dtype`, `mmengine.logging.history_buffer.HistoryBuffer`). Their calls were kept as data.
    public let opaqueGlobals: [String]

    private let document: PickleDocument
    private let stateDictLookup: Result<StateDictIndex, CheckpointError>
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int
    /// True when `base` is an mmap region (munmap on deinit); false for a copied in-memory buffer (deallocate).
    private let isMapped: Bool

    /// The state dict's keys in file order, and where each tensor is.
    private struct StateDictIndex {
        var keys: [String] = []
        var tensors: [String: Int] = [:]  // key → PickleArena.tensors index
    }

    /// Maps and reads the file at `url`.
    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    /// Maps and reads the file at `path`.
    public init(path: String) throws {
        let (pointer, size) = try Self.map(path: path)
        let parsed: Parsed
        do {
            parsed = try Self.parse(UnsafeRawBufferPointer(start: pointer, count: size), path: path)
        } catch {
            munmap(pointer, size)
            throw error
        }
        self.path = path
        self.base = pointer
        self.byteCount = size
        self.isMapped = true
        self.archiveName = parsed.archiveName
        self.isBigEndian = parsed.isBigEndian
        self.version = parsed.version
        self.opaqueGlobals = parsed.opaqueGlobals
        self.document = parsed.document
        self.stateDictLookup = parsed.stateDict
    }

    /// Reads a whole torch.save file held in memory (copied, so `bytes` need not outlive this object). Parsing is
    /// the same as for a mapped file; `name` stands for the path in errors.
    public init<Bytes: ContiguousBytes>(bytes: Bytes, name: String = "<memory>") throws {
        // 64-byte alignment, like torch's data alignment within a page-aligned mapping, so zero-copy behaves alike.
        let (pointer, size) = bytes.withUnsafeBytes { source -> (UnsafeMutableRawPointer, Int) in
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 64)
            if let from = source.baseAddress, source.count > 0 {
                pointer.copyMemory(from: from, byteCount: source.count)
            }
            return (pointer, source.count)
        }
        let parsed: Parsed
        do {
            parsed = try Self.parse(UnsafeRawBufferPointer(start: pointer, count: size), path: name)
        } catch {
            pointer.deallocate()
            throw error
        }
        self.path = name
        self.base = pointer
        self.byteCount = size
        self.isMapped = false
        self.archiveName = parsed.archiveName
        self.isBigEndian = parsed.isBigEndian
        self.version = parsed.version
        self.opaqueGlobals = parsed.opaqueGlobals
        self.document = parsed.document
        self.stateDictLookup = parsed.stateDict
    }

    deinit {
        if isMapped { munmap(base, byteCount) } else { base.deallocate() }
    }

    // MARK: - Opening

    private static func map(path: String) throws -> (UnsafeMutableRawPointer, Int) {
        try FileMapping.mapReadOnly(path: path, minimumSize: 1) { _ in
            CheckpointError.notATorchSave(path: path, detail: "the file is empty")
        }
    }

    private struct Parsed {
        let archiveName: String
        let isBigEndian: Bool
        let version: String?
        let opaqueGlobals: [String]
        let document: PickleDocument
        let stateDict: Result<StateDictIndex, CheckpointError>
    }

    private static func parse(_ file: UnsafeRawBufferPointer, path: String) throws -> Parsed {
        try checkFormat(file, path: path)
        let archive = try ZipArchive(file: file, path: path)
        guard let first = archive.entries.first else {
            throw CheckpointError.missingEntry(path: path, entry: "data.pkl", reason: "the archive is empty")
        }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw CheckpointError.missingEntry(
                path: path, entry: "<folder>/data.pkl",
                reason: "torch.save puts every entry in one top folder, but the first entry is '\(first.name)'")
        }
        let folder = String(first.name[..<slash])
        func entryBytes(_ entry: ZipEntry) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: file[entry.dataRange])
        }
        /// The start of a small text entry (these are a few bytes; a damaged one could be gigabytes).
        func entryText(_ entry: ZipEntry) -> String {
            String(decoding: entryBytes(entry).prefix(64), as: UTF8.self)
        }
        if archive.entry(named: folder + "/constants.pkl") != nil {
            throw CheckpointError.notATorchSave(
                path: path,
                detail: "a TorchScript archive (torch.jit.save); load it with torch.jit.load and save its "
                    + "state_dict() with torch.save")
        }
        guard let pickle = archive.entry(named: folder + "/data.pkl") else {
            throw CheckpointError.missingEntry(
                path: path, entry: folder + "/data.pkl",
                reason: "torch.save always writes the pickle there")
        }

        var isBigEndian = false
        if let entry = archive.entry(named: folder + "/byteorder") {
            let text = entryText(entry)
            switch (entry.size, text) {
            case (6, "little"): isBigEndian = false
            case (3, "big"): isBigEndian = true
            default:
                throw CheckpointError.invalidByteOrder(
                    path: path, entry: entry.name,
                    value: pythonRepr(text, limit: 40))
            }
        }
        let version = archive.entry(named: folder + "/version").map {
            entryText($0).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        let storagePrefix = folder + "/data/"
        let machine = PickleMachine(
            data: entryBytes(pickle), path: path, entryName: pickle.name,
            storagePrefix: storagePrefix,
            storageEntry: { archive.entry(named: storagePrefix + $0) })
        let root = try machine.run()
        let document = PickleDocument(arena: machine.arena, root: root)
        return Parsed(
            archiveName: folder, isBigEndian: isBigEndian, version: version,
            opaqueGlobals: machine.opaqueGlobals, document: document,
            stateDict: stateDictResult(document, path: path))
    }

    /// torch.save files start with a zip local header (an empty archive starts with its end records). Older
    /// formats get a message saying what they are.
    private static func checkFormat(_ file: UnsafeRawBufferPointer, path: String) throws {
        if file.count >= 4, file[0] == 0x50, file[1] == 0x4B,
            (file[2], file[3]) == (0x03, 0x04) || (file[2], file[3]) == (0x05, 0x06)
                || (file[2], file[3]) == (0x06, 0x06)
        {
            return
        }
        // Legacy torch.save: a protocol-2 pickle of the magic number 0x1950a86a20f9469cfc6c (LONG1, 10 bytes).
        let legacyMagic: [UInt8] = [0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        if file.count >= 14, file[0] == 0x80, file[2..<14].elementsEqual(legacyMagic) {
            throw CheckpointError.legacyFormat(
                path: path,
                detail: "a pickle stream with the magic number "
                    + "0x1950a86a20f9469cfc6c")
        }
        // Before that: a tar archive (sys_info, pickle, tensors, storages).
        let ustar: [UInt8] = Array("ustar".utf8)
        if file.count >= 262, file[257..<262].elementsEqual(ustar) {
            throw CheckpointError.legacyFormat(path: path, detail: "a tar archive")
        }
        let head = file.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        let detail =
            file.first == 0x80
            ? "a bare pickle stream (starts with \(head)), not a zip archive"
            : "starts with bytes \(head), not a zip local header (50 4b 03 04)"
        throw CheckpointError.notATorchSave(path: path, detail: detail)
    }

    // MARK: - State dict

    /// The dict of tensors: the root itself when it is one (a bare `model.state_dict()`, open_clip and HF
    /// `.bin` files), else `root['state_dict']` (mmengine/XTuner runner checkpoints), `root['model']` or
    /// `root['module']` (DeepSpeed and others).
    private static func locateStateDict(_ document: PickleDocument, path: String) throws -> StateDictIndex {
        let arena = document.arena
        let rootValue = PickleValue(document: document, index: document.root)
        guard let rootEntries = mappingEntries(arena, document.root) else {
            throw CheckpointError.noStateDict(path: path, reason: "the pickle's root is \(rootValue), not a dict")
        }
        func isTensor(_ index: Int) -> Bool {
            if case .tensor = arena.nodes[index] { return true }
            return false
        }
        if rootEntries.allSatisfy({ isTensor($0.value) }) {
            return try index(rootEntries, document: document, path: path, container: "the root dict")
        }
        for name in ["state_dict", "model", "module"] {
            guard
                let entry = rootEntries.first(where: {
                    if case let .string(key) = arena.nodes[$0.key] { return key == name }
                    return false
                })
            else { continue }
            guard let entries = mappingEntries(arena, entry.value) else {
                let found = PickleValue(document: document, index: entry.value)
                throw CheckpointError.noStateDict(path: path, reason: "root['\(name)'] is \(found), not a dict")
            }
            return try index(entries, document: document, path: path, container: "root['\(name)']")
        }
        let keys = rootEntries.prefix(12).map { PickleValue(document: document, index: $0.key).description }
        throw CheckpointError.noStateDict(
            path: path,
            reason: "the root dict (keys \(keys.joined(separator: ", "))\(rootEntries.count > 12 ? ", …" : "")) "
                + "holds non-tensor values and has no 'state_dict', 'model' or 'module' entry")
    }

    private static func stateDictResult(
        _ document: PickleDocument,
        path: String
    ) -> Result<StateDictIndex, CheckpointError> {
        do {
            return .success(try locateStateDict(document, path: path))
        } catch let error as CheckpointError {
            return .failure(error)
        } catch {
            return .failure(.noStateDict(path: path, reason: "\(error)"))
        }
    }

    /// Entries of a dict, or the dict items of an opaque object (a dict subclass this reader does not know).
    private static func mappingEntries(_ arena: PickleArena, _ index: Int) -> [(key: Int, value: Int)]? {
        let dict: PickleDict
        switch arena.nodes[index] {
        case let .dict(d): dict = arena.dicts[d]
        case let .object(o):
            guard let d = arena.objects[o].dictItems else { return nil }
            dict = arena.dicts[d]
        default: return nil
        }
        return zip(dict.keys, dict.values).map { (key: $0, value: $1) }
    }

    private static func index(
        _ entries: [(key: Int, value: Int)], document: PickleDocument, path: String,
        container: String
    ) throws -> StateDictIndex {
        let arena = document.arena
        var result = StateDictIndex()
        result.keys.reserveCapacity(entries.count)
        for (position, entry) in entries.enumerated() {
            guard case let .string(key) = arena.nodes[entry.key] else {
                throw CheckpointError.noStateDict(
                    path: path,
                    reason: "key #\(position) of \(container) is a "
                        + "\(PickleValueKind(arena.nodes[entry.key]).rawValue), not a string")
            }
            guard case let .tensor(t) = arena.nodes[entry.value] else {
                throw CheckpointError.notATensor(
                    path: path, key: key,
                    found: "\(PickleValue(document: document, index: entry.value)) (in \(container))")
            }
            result.keys.append(key)
            result.tensors[key] = t
        }
        return result
    }

    private func stateDictIndex() throws -> StateDictIndex { try stateDictLookup.get() }

    // MARK: - Access

    /// The unpickled object, as a read-only value tree.
    public var root: PickleValue { PickleValue(document: document, index: document.root) }

    /// The state dict's keys, in file order.
    public func keys() throws -> [String] { try stateDictIndex().keys }

    public func contains(_ key: String) -> Bool {
        (try? stateDictIndex().tensors[key]) != nil
    }

    /// Dtype, shape and layout of one state-dict tensor.
    public func info(for key: String) throws -> TorchTensorInfo {
        guard let t = try stateDictIndex().tensors[key] else {
            throw CheckpointError.tensorNotFound(path: path, key: key)
        }
        return info(tensor: t, name: key)
    }

    /// Every state-dict tensor's dtype, shape and layout, in file order, without reading any tensor data.
    public func tensorInfos() throws -> [TorchTensorInfo] {
        let index = try stateDictIndex()
        return index.keys.compactMap { key in index.tensors[key].map { info(tensor: $0, name: key) } }
    }

    private func info(tensor t: Int, name: String) -> TorchTensorInfo {
        let record = document.arena.tensors[t]
        return TorchTensorInfo(name: name, record: record, storage: document.arena.storages[record.storage])
    }

    /// The state-dict tensor `key` (zero-copy where possible unless `copy`; see the type's documentation).
    public func tensor(_ key: String, copy: Bool = false) throws -> Tensor {
        guard let t = try stateDictIndex().tensors[key] else {
            throw CheckpointError.tensorNotFound(path: path, key: key)
        }
        return try materialize(t, name: key, copy: copy)
    }

    /// A tensor found anywhere in `root` (for files whose tensors are not in a state dict).
    public func tensor(_ value: PickleValue, name: String = "<value>", copy: Bool = false) throws -> Tensor {
        guard value.document === document, case let .tensor(t) = document.arena.nodes[value.index] else {
            throw CheckpointError.notATensor(path: path, key: name, found: value.description)
        }
        return try materialize(t, name: name, copy: copy)
    }

    /// Every state-dict tensor, keyed by name.
    public func stateDict(copy: Bool = false) throws -> [String: Tensor] {
        let index = try stateDictIndex()
        var result: [String: Tensor] = [:]
        result.reserveCapacity(index.keys.count)
        for key in index.keys {
            if let t = index.tensors[key] { result[key] = try materialize(t, name: key, copy: copy) }
        }
        return result
    }

    /// Whether `tensor`'s memory lies inside this file's buffer (i.e. it was loaded without a copy).
    func holds(_ tensor: Tensor) -> Bool {
        let p = UnsafeRawPointer(tensor.storage.pointer)
        return p >= UnsafeRawPointer(base) && p < UnsafeRawPointer(base) + byteCount
    }

    // MARK: - Materialising

    /// The most bytes an expanded view (one addressing more elements than its storage holds) may gather into.
    static let maxExpandedBytes = 1 << 30

    private func materialize(_ t: Int, name: String, copy: Bool) throws -> Tensor {
        let record = document.arena.tensors[t]
        let storage = document.arena.storages[record.storage]
        guard let target = record.dtype.loadDType else {
            throw CheckpointError.unsupportedDType(path: path, key: name, dtype: record.dtype.name, format: .torch)
        }
        let width = record.dtype.elementSize
        let count = record.elementCount
        if count == 0 { return Tensor(storage: Storage(uninitializedCount: 0, dtype: target), shape: record.shape) }

        // Every element lies inside the entry (checked when the tensor was rebuilt), so these reads stay in bounds.
        let source = UnsafeRawPointer(base + storage.entry.dataOffset)
        let converts = target.size != width || record.dtype.safetensors?.tensorDType != target
        let contiguous = TorchTensorInfo.isContiguous(shape: record.shape, stride: record.stride)
        let start = base + storage.entry.dataOffset + record.storageOffset * width
        if !copy, !converts, !isBigEndian, contiguous, Int(bitPattern: start) % width == 0 {
            return Tensor(
                storage: Storage(borrowing: start, byteCount: count * width, dtype: target, owner: self),
                shape: record.shape)
        }

        // A view with zero or overlapping strides (an expanded tensor) can address far more elements than its
        // storage holds; gathering it allocates all of them. Refuse sizes no real checkpoint has rather than let a
        // crafted shape exhaust memory.
        let limit = max(storage.elementCount * storage.dtype.elementSize, Self.maxExpandedBytes)
        guard count * width <= limit else {  // count × width was overflow-checked when the view was validated
            throw CheckpointError.invalidStorage(
                path: path, entry: storage.entry.name, offset: storage.entry.dataOffset,
                reason: "tensor '\(name)' is a view of \(count) elements (shape \(record.shape), stride "
                    + "\(record.stride)) over a storage of \(storage.elementCount); materialising it would take "
                    + "\(count * width) bytes, more than the \(Self.maxExpandedBytes)-byte limit for expanded views")
        }
        let output = Storage(uninitializedCount: count, dtype: target)
        if !converts {
            TorchTensorCopy.gather(from: source, record: record, into: output.pointer)
            if isBigEndian { TorchTensorCopy.swapBytes(output.pointer, count: count, width: width) }
        } else {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * width, alignment: 64)
            defer { raw.deallocate() }
            TorchTensorCopy.gather(from: source, record: record, into: raw)
            if isBigEndian { TorchTensorCopy.swapBytes(raw, count: count, width: width) }
            TorchTensorCopy.convert(raw, from: record.dtype, into: output.pointer, target: target, count: count)
        }
        return Tensor(storage: output, shape: record.shape)
    }
}

/// Copies out of a storage: strided gathers, byte swaps and the widening/narrowing conversions.
enum TorchTensorCopy {
    /// Copies the view's elements, in row-major order, into `destination`. Loops, no recursion: an odometer over
    /// all dimensions but the last, with the innermost row copied in one go when it is contiguous.
    static func gather(
        from storage: UnsafeRawPointer, record: TorchTensorRecord,
        into destination: UnsafeMutableRawPointer
    ) {
        let width = record.dtype.elementSize
        let shape = record.shape, stride = record.stride
        if TorchTensorInfo.isContiguous(shape: shape, stride: stride) {
            memcpy(destination, storage + record.storageOffset * width, record.elementCount * width)
            return
        }
        let rank = shape.count  // ≥ 1 here: a 0-d tensor is contiguous
        let inner = shape[rank - 1], innerStride = stride[rank - 1]
        var counter = [Int](repeating: 0, count: rank)
        var offset = record.storageOffset
        var out = destination
        while true {
            if innerStride == 1 {
                memcpy(out, storage + offset * width, inner * width)
                out += inner * width
            } else {
                var element = offset
                for _ in 0..<inner {
                    memcpy(out, storage + element * width, width)
                    out += width
                    element &+= innerStride  // may wrap after the last element (size-1 dims take any stride)
                }
            }
            // Advance the odometer. Strides are only added while the index stays inside its dimension, so the
            // offset never leaves the storage (validated: offset + Σ (size − 1) × stride is in bounds).
            var d = rank - 2
            while d >= 0 {
                if counter[d] + 1 < shape[d] {
                    counter[d] += 1
                    offset += stride[d]
                    break
                }
                offset -= stride[d] * counter[d]
                counter[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    static func swapBytes(_ pointer: UnsafeMutableRawPointer, count: Int, width: Int) {
        guard width > 1 else { return }
        let bytes = pointer.assumingMemoryBound(to: UInt8.self)
        for element in 0..<count {
            var low = element * width, high = low + width - 1
            while low < high {
                (bytes[low], bytes[high]) = (bytes[high], bytes[low])
                low += 1
                high -= 1
            }
        }
    }

    /// float64 → float32 (rounded to nearest), int8/int16/uint16 → int32, uint32 → int64 (exact).
    static func convert(
        _ raw: UnsafeRawPointer, from dtype: TorchDType, into output: UnsafeMutableRawPointer,
        target: DType, count: Int
    ) {
        func map<Source, Target>(_: Source.Type, _: Target.Type, _ transform: (Source) -> Target) {
            let out = output.assumingMemoryBound(to: Target.self)
            for i in 0..<count {
                out[i] = transform(raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Source>.size, as: Source.self))
            }
        }
        switch dtype.safetensors {
        case .F64?: map(Double.self, Float.self) { Float($0) }
        case .I8?: map(Int8.self, Int32.self) { Int32($0) }
        case .I16?: map(Int16.self, Int32.self) { Int32($0) }
        case .U16?: map(UInt16.self, Int32.self) { Int32($0) }
        case .U32?: map(UInt32.self, Int64.self) { Int64($0) }
        default: memcpy(output, raw, count * target.size)  // unreachable: loadDType lists only these conversions
        }
    }
}
