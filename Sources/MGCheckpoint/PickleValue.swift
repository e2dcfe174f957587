import Foundation

// Unpickled values live in an arena: flat arrays of nodes whose containers hold indices into it, never nested
// Swift values. Building, reading and freeing a value therefore never recurses, however deep the pickle nests
// (a recursive indirect enum would be released recursively and overflow the stack on a few hundred thousand
// levels), and self-referencing containers (legal in pickle: a list that holds itself) are just cycles of indices.

/// What kind of Python value a `PickleValue` stands for.
public enum PickleValueKind: String, Sendable {
    case none, bool, int, bigInt, float, string, bytes
    case tuple, list, set, frozenset, dict
    /// A reference to a module-level name (`GLOBAL`), never imported or called.
    case global
    /// The inert record of a call this reader does not understand (`REDUCE`/`NEWOBJ`/`BUILD` on an opaque
    /// global): callee, arguments and state are kept as data.
    case object
    /// A tensor storage: one `data/<key>` entry of the archive.
    case storage
    /// A tensor: a validated view (offset, shape, stride) into a storage.
    case tensor
}

/// One node of the arena. Containers refer to side tables by index.
enum PickleNode {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer outside Int64, kept as text ("0x…" for LONG1/LONG4, decimal for protocol-0 INT/LONG).
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(Int)  // PickleArena.sequences
    case list(Int)  // PickleArena.sequences
    case set(Int)  // PickleArena.sequences
    case frozenset(Int)  // PickleArena.sequences
    case dict(Int)  // PickleArena.dicts
    case global(Int)  // PickleArena.globals
    case object(Int)  // PickleArena.objects
    case storage(Int)  // PickleArena.storages
    case tensor(Int)  // PickleArena.tensors
}

/// Dict key identity. Python compares keys by value; strings and bytes are interned when created, so their node
/// index is their value. Numbers compare by value (True == 1 == 1.0, as in Python). Any other key (a tuple, an
/// object) compares by identity: an approximation that only matters for exotic dicts, never for state dicts.
enum PickleDictKey: Hashable {
    case none
    case int(Int64)
    case float(UInt64)
    case node(Int)
}

struct PickleDict {
    var keys: [Int] = []
    var values: [Int] = []
    var slots: [PickleDictKey: Int] = [:]
    /// Created by `collections.OrderedDict` (a plain dict keeps insertion order too; this only records the type).
    var isOrdered = false
    /// State set by BUILD (an OrderedDict's `__dict__`, e.g. the `_metadata` of a module state dict); ignored.
    var state: Int?
}

struct PickleGlobal {
    let module: String
    /// The name within the module; a dotted path when reached through `getattr` (e.g. "HistoryBuffer.min").
    let name: String
    let qualifiedName: String
    /// What calling it means (see `TorchGlobals.classify`).
    let callable: TorchCallable?
    let codeExecutionName: String?
    let isUnderstood: Bool

    init(module: String, name: String) {
        self.module = module
        self.name = name
        qualifiedName = module + "." + name
        let classification = TorchGlobals.classify(module: module, name: name)
        callable = classification.callable
        codeExecutionName = classification.codeExecutionName
        isUnderstood = classification.isUnderstood
    }
}

/// A call this reader did not perform, kept as data.
struct PickleObject {
    let callee: Int
    let args: Int
    let kwargs: Int?
    var state: Int?
    /// Items added by APPEND/APPENDS/ADDITEMS (listitems of `__reduce__`), a PickleArena.sequences index.
    var listItems: Int?
    /// Items added by SETITEM/SETITEMS (dictitems of `__reduce__`), a PickleArena.dicts index.
    var dictItems: Int?
}

/// A storage named by a persistent id `('storage', storage_type, key, location, numel)`: archive entry
/// `<stem>/data/<key>`, whose length was checked against numel × element size.
struct TorchStorageRecord {
    let key: String
    let entry: ZipEntry
    let dtype: TorchDType
    let elementCount: Int
}

/// A tensor view into a storage, validated when it was built: non-negative sizes and strides, and every element
/// inside the storage.
struct TorchTensorRecord {
    let storage: Int  // PickleArena.storages
    let dtype: TorchDType
    /// In elements of `dtype`.
    let storageOffset: Int
    let shape: [Int]
    let stride: [Int]
    let elementCount: Int
    let requiresGrad: Bool
}

/// Everything one unpickling produced; immutable once the machine stops.
struct PickleArena {
    var nodes: [PickleNode] = []
    /// Nesting depth of each node as built (0 for scalars); bounded by `PickleMachine.maxDepth`.
    var depths: [Int32] = []
    var sequences: [[Int]] = []
    var dicts: [PickleDict] = []
    var globals: [PickleGlobal] = []
    var objects: [PickleObject] = []
    var storages: [TorchStorageRecord] = []
    var tensors: [TorchTensorRecord] = []
}

/// Shares one finished arena between the values that point into it.
final class PickleDocument: @unchecked Sendable {
    let arena: PickleArena
    let root: Int
    init(arena: PickleArena, root: Int) {
        self.arena = arena
        self.root = root
    }
}

/// A read-only view of one unpickled value. Cheap to copy; keeps the whole unpickled document alive.
///
/// Accessors return nil when the value is of another kind. Nothing here recurses: containers hand out their
/// direct children only, so a caller walking a deep or cyclic value decides how far to go.
public struct PickleValue: @unchecked Sendable, CustomStringConvertible {
    let document: PickleDocument
    let index: Int

    init(document: PickleDocument, index: Int) {
        self.document = document
        self.index = index
    }

    private var node: PickleNode { document.arena.nodes[index] }
    private func value(_ i: Int) -> PickleValue { PickleValue(document: document, index: i) }

    public var kind: PickleValueKind { PickleValueKind(node) }

    public var isNone: Bool { kind == .none }

    public var bool: Bool? {
        if case let .bool(b) = node { return b }
        return nil
    }

    /// Ints (and bools, as Python treats them) that fit in Int64.
    public var int: Int64? {
        switch node {
        case let .int(v): return v
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    public var double: Double? {
        switch node {
        case let .float(v): return v
        case let .int(v): return Double(v)
        default: return nil
        }
    }

    public var string: String? {
        if case let .string(s) = node { return s }
        return nil
    }

    public var bytes: [UInt8]? {
        if case let .bytes(b) = node { return b }
        return nil
    }

    /// The side-table index of this value's elements: a tuple, list, set or frozenset, or the items an opaque
    /// object received through APPEND (a list subclass this reader does not know).
    private var sequenceIndex: Int? {
        switch node {
        case let .tuple(s), let .list(s), let .set(s), let .frozenset(s): return s
        case let .object(o): return document.arena.objects[o].listItems
        default: return nil
        }
    }

    /// The side-table index of this value's entries: a dict, or the items an opaque object received through
    /// SETITEM (a dict subclass this reader does not know, such as mmengine's ConfigDict).
    private var dictIndex: Int? {
        switch node {
        case let .dict(d): return d
        case let .object(o): return document.arena.objects[o].dictItems
        default: return nil
        }
    }

    /// Elements of a tuple, list, set or frozenset (in pickle order), or the appended items of an opaque object.
    public var elements: [PickleValue]? {
        sequenceIndex.map { document.arena.sequences[$0].map(value) }
    }

    /// Entries of a dict in insertion order, or the items set on an opaque object.
    public var entries: [(key: PickleValue, value: PickleValue)]? {
        guard let d = dictIndex else { return nil }
        let dict = document.arena.dicts[d]
        return zip(dict.keys, dict.values).map { (value($0), value($1)) }
    }

    /// Number of elements or entries (as `elements` and `entries` count them).
    public var count: Int? {
        if let s = sequenceIndex { return document.arena.sequences[s].count }
        return dictIndex.map { document.arena.dicts[$0].keys.count }
    }

    /// Whether this dict was built by `collections.OrderedDict`.
    public var isOrderedDict: Bool {
        if case let .dict(d) = node { return document.arena.dicts[d].isOrdered }
        return false
    }

    /// The entry under a string key (see `entries`).
    public subscript(key: String) -> PickleValue? {
        guard let d = dictIndex else { return nil }
        let dict = document.arena.dicts[d]
        for (k, v) in zip(dict.keys, dict.values) {
            if case let .string(s) = document.arena.nodes[k], s == key { return value(v) }
        }
        return nil
    }

    /// "module.name" of a global, or of the callee of an opaque call (when the callee is a global).
    public var globalName: String? {
        switch node {
        case let .global(g): return document.arena.globals[g].qualifiedName
        case let .object(o):
            let callee = document.arena.objects[o].callee
            if case let .global(g) = document.arena.nodes[callee] { return document.arena.globals[g].qualifiedName }
            return nil
        default: return nil
        }
    }

    /// For an opaque call: the callee, positional arguments and the state BUILD gave it (if any).
    public var call: (callee: PickleValue, args: PickleValue, state: PickleValue?)? {
        guard case let .object(o) = node else { return nil }
        let object = document.arena.objects[o]
        return (value(object.callee), value(object.args), object.state.map(value))
    }

    /// The archive key (`data/<key>`) of a storage, or of the storage a tensor views.
    public var storageKey: String? {
        switch node {
        case let .storage(s): return document.arena.storages[s].key
        case let .tensor(t): return document.arena.storages[document.arena.tensors[t].storage].key
        default: return nil
        }
    }

    /// Dtype, shape and layout of a tensor, without reading its data (`name` is left empty).
    public var tensorInfo: TorchTensorInfo? {
        guard case let .tensor(t) = node else { return nil }
        let record = document.arena.tensors[t]
        return TorchTensorInfo(name: "", record: record, storage: document.arena.storages[record.storage])
    }

    /// One line, never descending more than one level: "dict (4 entries)", "tensor F32 [64, 32]", …
    public var description: String {
        switch node {
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(v): return String(v)
        case let .bigInt(text): return text
        case let .float(v): return String(v)
        case let .string(s): return pythonRepr(s, limit: 60)
        case let .bytes(b): return "bytes (\(b.count))"
        case let .tuple(s): return "tuple (\(document.arena.sequences[s].count) elements)"
        case let .list(s): return "list (\(document.arena.sequences[s].count) elements)"
        case let .set(s): return "set (\(document.arena.sequences[s].count) elements)"
        case let .frozenset(s): return "frozenset (\(document.arena.sequences[s].count) elements)"
        case let .dict(d):
            let dict = document.arena.dicts[d]
            return "\(dict.isOrdered ? "OrderedDict" : "dict") (\(dict.keys.count) entries)"
        case let .global(g): return "global \(document.arena.globals[g].qualifiedName)"
        case .object: return "object \(globalName ?? "(computed callee)")(…)"
        case let .storage(s):
            let storage = document.arena.storages[s]
            return "storage \(storage.key) (\(storage.dtype), \(storage.elementCount) elements)"
        case let .tensor(t):
            let tensor = document.arena.tensors[t]
            return "tensor \(tensor.dtype) \(tensor.shape)"
        }
    }
}
