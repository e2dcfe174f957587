import Foundation
import MGJSON

// A restricted unpickler: it understands the pickle opcodes of protocols 0–5 (CPython Lib/pickle.py,
// Lib/pickletools.py) and builds inert values in a `PickleArena`, but never imports or calls anything.
// Calls (REDUCE, NEWOBJ, INST, OBJ) and BUILD are handed to `TorchPickleCalls.swift`, which evaluates the few
// globals torch.save uses as data and keeps every other call as an opaque record.
//
// The machine is a loop over the bytes with an explicit stack, so no input can make it recurse. Every read is
// bounds-checked, every length is compared with what remains before anything is allocated, and each opcode adds
// at most one node, so memory stays linear in the size of data.pkl. Work that a memo reference can repeat
// cheaply (a call copying a large container) is charged to a budget linear in that size (`spend`), so time is
// bounded too: a hostile pickle is an error, never a hang.

/// Pickle opcodes, protocols 0–5.
enum PickleOpcode: UInt8 {
    // Protocol 0 and 1
    case mark = 0x28, stop = 0x2E, pop = 0x30, popMark = 0x31, dup = 0x32
    case float = 0x46, int = 0x49, binInt = 0x4A, binInt1 = 0x4B, long = 0x4C, binInt2 = 0x4D, none = 0x4E
    case persID = 0x50, binPersID = 0x51, reduce = 0x52
    case string = 0x53, binString = 0x54, shortBinString = 0x55, unicode = 0x56, binUnicode = 0x58
    case append = 0x61, build = 0x62, global = 0x63, dict = 0x64, emptyDict = 0x7D, appends = 0x65
    case get = 0x67, binGet = 0x68, inst = 0x69, longBinGet = 0x6A, list = 0x6C, emptyList = 0x5D, obj = 0x6F
    case put = 0x70, binPut = 0x71, longBinPut = 0x72, setItem = 0x73, tuple = 0x74, emptyTuple = 0x29
    case setItems = 0x75, binFloat = 0x47
    // Protocol 2
    case proto = 0x80, newObj = 0x81, ext1 = 0x82, ext2 = 0x83, ext4 = 0x84
    case tuple1 = 0x85, tuple2 = 0x86, tuple3 = 0x87, newTrue = 0x88, newFalse = 0x89, long1 = 0x8A, long4 = 0x8B
    // Protocol 3
    case binBytes = 0x42, shortBinBytes = 0x43
    // Protocol 4
    case shortBinUnicode = 0x8C, binUnicode8 = 0x8D, binBytes8 = 0x8E, emptySet = 0x8F, addItems = 0x90
    case frozenSet = 0x91, newObjEx = 0x92, stackGlobal = 0x93, memoize = 0x94, frame = 0x95
    // Protocol 5
    case byteArray8 = 0x96, nextBuffer = 0x97, readOnlyBuffer = 0x98

    /// The name pickletools prints, for error messages.
    var name: String {
        switch self {
        case .mark: return "MARK"
        case .stop: return "STOP"
        case .pop: return "POP"
        case .popMark: return "POP_MARK"
        case .dup: return "DUP"
        case .float: return "FLOAT"
        case .int: return "INT"
        case .binInt: return "BININT"
        case .binInt1: return "BININT1"
        case .long: return "LONG"
        case .binInt2: return "BININT2"
        case .none: return "NONE"
        case .persID: return "PERSID"
        case .binPersID: return "BINPERSID"
        case .reduce: return "REDUCE"
        case .string: return "STRING"
        case .binString: return "BINSTRING"
        case .shortBinString: return "SHORT_BINSTRING"
        case .unicode: return "UNICODE"
        case .binUnicode: return "BINUNICODE"
        case .append: return "APPEND"
        case .build: return "BUILD"
        case .global: return "GLOBAL"
        case .dict: return "DICT"
        case .emptyDict: return "EMPTY_DICT"
        case .appends: return "APPENDS"
        case .get: return "GET"
        case .binGet: return "BINGET"
        case .inst: return "INST"
        case .longBinGet: return "LONG_BINGET"
        case .list: return "LIST"
        case .emptyList: return "EMPTY_LIST"
        case .obj: return "OBJ"
        case .put: return "PUT"
        case .binPut: return "BINPUT"
        case .longBinPut: return "LONG_BINPUT"
        case .setItem: return "SETITEM"
        case .tuple: return "TUPLE"
        case .emptyTuple: return "EMPTY_TUPLE"
        case .setItems: return "SETITEMS"
        case .binFloat: return "BINFLOAT"
        case .proto: return "PROTO"
        case .newObj: return "NEWOBJ"
        case .ext1: return "EXT1"
        case .ext2: return "EXT2"
        case .ext4: return "EXT4"
        case .tuple1: return "TUPLE1"
        case .tuple2: return "TUPLE2"
        case .tuple3: return "TUPLE3"
        case .newTrue: return "NEWTRUE"
        case .newFalse: return "NEWFALSE"
        case .long1: return "LONG1"
        case .long4: return "LONG4"
        case .binBytes: return "BINBYTES"
        case .shortBinBytes: return "SHORT_BINBYTES"
        case .shortBinUnicode: return "SHORT_BINUNICODE"
        case .binUnicode8: return "BINUNICODE8"
        case .binBytes8: return "BINBYTES8"
        case .emptySet: return "EMPTY_SET"
        case .addItems: return "ADDITEMS"
        case .frozenSet: return "FROZENSET"
        case .newObjEx: return "NEWOBJ_EX"
        case .stackGlobal: return "STACK_GLOBAL"
        case .memoize: return "MEMOIZE"
        case .frame: return "FRAME"
        case .byteArray8: return "BYTEARRAY8"
        case .nextBuffer: return "NEXT_BUFFER"
        case .readOnlyBuffer: return "READONLY_BUFFER"
        }
    }
}

/// The unpickling machine for one `data.pkl`. A class, so that its many helpers share the state without copying
/// it (a struct's non-mutating calls copy every field in unoptimised builds, which made tests crawl).
final class PickleMachine {
    /// Deepest container nesting accepted. Real checkpoints nest a handful of levels; the cap turns a pickle built
    /// to exhaust whoever walks the result into an error.
    static let maxDepth: Int32 = 1000

    let data: UnsafeRawBufferPointer
    /// The checkpoint file and the pickle's entry name, for errors.
    let path: String
    let entryName: String
    /// The archive's data entries by storage key (`<stem>/data/<key>` → key); nil when absent.
    let storageEntry: (String) -> ZipEntry?
    /// The archive folder of the storages, for messages ("archive/data/").
    let storagePrefix: String

    var arena = PickleArena()
    var position = 0
    /// Offset of the opcode being executed (errors report it).
    var opcodeOffset = 0
    var opcode = PickleOpcode.proto
    var stack: [Int] = []
    /// Stack heights at each open MARK.
    var marks: [Int] = []
    /// Memo slots. Picklers number them 0, 1, 2, …, so those live in an array (-1 = unset); any other index goes
    /// to a dictionary, so a crafted LONG_BINPUT 4000000000 costs one entry, not gigabytes.
    var denseMemo: [Int] = []
    var sparseMemo: [Int: Int] = [:]
    var memoCount = 0
    /// Strings and bytes are immutable in Python, so equal ones share a node; dict keys then compare by index.
    var internedStrings: [String: Int] = [:]
    var internedBytes: [[UInt8]: Int] = [:]
    var globalNodes: [String: Int] = [:]
    /// Globals seen that are neither understood nor refused, in first-seen order.
    var opaqueGlobals: [String] = []
    var storageNodes: [String: Int] = [:]
    /// Persistent ids already resolved, by node: a memoised id referenced again costs nothing.
    var loadedPersistentIDs: [Int: Int] = [:]
    /// Element identities of each set (by sequence index), kept so ADDITEMS stays linear.
    var setKeys: [Int: Set<PickleDictKey>] = [:]

    /// Work done by calls evaluated as data (copying containers, encoding strings, joining names), in elements or
    /// bytes. Memo references let a pickle feed one large value to many calls for a few bytes each, so without a
    /// budget a small file could demand quadratic time; the budget is generous for anything torch.save writes.
    var work = 0
    var workLimit: Int { 8 * data.count + (1 << 20) }

    init(
        data: UnsafeRawBufferPointer, path: String, entryName: String, storagePrefix: String,
        storageEntry: @escaping (String) -> ZipEntry?
    ) {
        self.data = data
        self.path = path
        self.entryName = entryName
        self.storagePrefix = storagePrefix
        self.storageEntry = storageEntry
    }

    // MARK: - Errors

    func invalid(_ reason: String) -> CheckpointError {
        .invalidPickle(path: path, entry: entryName, offset: opcodeOffset, reason: reason)
    }

    func invalidStorage(_ reason: String) -> CheckpointError {
        .invalidStorage(path: path, entry: entryName, offset: opcodeOffset, reason: reason)
    }

    // MARK: - Run

    /// Executes the pickle up to STOP and returns the root node.
    func run() throws -> Int {
        while position < data.count {
            opcodeOffset = position
            let byte = data[position]
            position += 1
            guard let op = PickleOpcode(rawValue: byte) else {
                let printable = (0x21...0x7E).contains(byte) ? " ('\(Character(Unicode.Scalar(byte)))')" : ""
                throw invalid(String(format: "unknown opcode 0x%02x", byte) + printable)
            }
            opcode = op
            if op == .stop { return try finish() }
            try execute(op)
        }
        opcodeOffset = data.count
        throw invalid("data ends without a STOP opcode (the pickle is truncated or unterminated)")
    }

    private func finish() throws -> Int {
        let root = try pop()
        guard marks.isEmpty else { throw invalid("STOP with \(marks.count) MARK(s) never closed") }
        guard stack.isEmpty else {
            throw invalid("STOP leaves \(stack.count) value(s) on the stack besides the result")
        }
        return root
    }

    private func execute(_ op: PickleOpcode) throws {
        switch op {
        case .stop: break  // handled by run()
        case .proto:
            let version = try readByte()
            guard version <= 5 else { throw invalid("unsupported pickle protocol \(version) (this reader knows 0–5)") }
        case .frame:
            // Frames only group opcodes for buffered reading; the length must still fit.
            let length = try readUInt64()
            guard length <= UInt64(data.count - position) else {
                throw invalid("FRAME of \(length) bytes runs past the end (\(data.count - position) bytes remain)")
            }

        // Stack manipulation
        case .mark:
            marks.append(stack.count)
            markBase = stack.count
        case .pop:
            // As CPython: POP on an empty frame discards the MARK instead.
            if stack.count > markBase {
                stack.removeLast()
            } else if marks.popLast() != nil {
                markBase = marks.last ?? 0
            } else {
                try underflow()
            }
        case .popMark: _ = try popMark()
        case .dup: push(try top())

        // Constants and numbers
        case .none: push(node(.none))
        case .newTrue: push(node(.bool(true)))
        case .newFalse: push(node(.bool(false)))
        case .binInt: push(node(.int(Int64(Int32(bitPattern: try readUInt32())))))
        case .binInt1: push(node(.int(Int64(try readByte()))))
        case .binInt2: push(node(.int(Int64(try readUInt16()))))
        case .int: push(try textInt(try readLine(), allowBool: true))
        case .long: push(try textInt(try readLine(), allowBool: false))
        case .long1: push(longFromBytes(try read(Int(try readByte()))))
        case .long4:
            let length = Int32(bitPattern: try readUInt32())
            guard length >= 0 else { throw invalid("LONG4 has negative length \(length)") }
            push(longFromBytes(try read(Int(length))))
        case .float:
            let line = try readLine()
            guard let value = Double(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)) else {
                throw invalid("FLOAT \(pythonRepr(String(decoding: line, as: UTF8.self))) is not a number")
            }
            push(node(.float(value)))
        case .binFloat:
            push(node(.float(Double(bitPattern: UInt64(bigEndian: try read(8).loadUnaligned(as: UInt64.self))))))

        // Strings and bytes
        case .binUnicode: push(try unicode(try read(length: UInt64(try readUInt32()))))
        case .shortBinUnicode: push(try unicode(try read(Int(try readByte()))))
        case .binUnicode8: push(try unicode(try read(length: try readUInt64())))
        case .unicode: push(string(try rawUnicodeEscape(try readLine())))
        case .binString:
            let length = Int32(bitPattern: try readUInt32())
            guard length >= 0 else { throw invalid("BINSTRING has negative length \(length)") }
            push(python2String(Array(try read(Int(length)))))
        case .shortBinString: push(python2String(Array(try read(Int(try readByte())))))
        case .string: push(python2String(try quotedString(try readLine())))
        case .binBytes: push(bytesNode(Array(try read(length: UInt64(try readUInt32())))))
        case .shortBinBytes: push(bytesNode(Array(try read(Int(try readByte())))))
        case .binBytes8, .byteArray8: push(bytesNode(Array(try read(length: try readUInt64()))))
        case .nextBuffer, .readOnlyBuffer:
            throw invalid("\(op.name): out-of-band buffers (pickle protocol 5) are not supported")

        // Containers
        case .emptyTuple: push(try container(.tuple, []))
        case .tuple: push(try container(.tuple, try popMark()))
        case .tuple1, .tuple2, .tuple3:
            let n = Int(op.rawValue - PickleOpcode.tuple1.rawValue) + 1
            guard stack.count - markBase >= n else { try underflow() }
            let items = Array(stack.suffix(n))
            stack.removeLast(n)
            push(try container(.tuple, items))
        case .emptyList: push(try container(.list, []))
        case .list: push(try container(.list, try popMark()))
        case .emptyDict: push(try container(.dict, []))
        case .dict: push(try container(.dict, try popMark()))
        case .emptySet: push(try container(.set, []))
        case .frozenSet: push(try container(.frozenset, try popMark()))
        case .append:
            let item = try pop()
            try append([item], to: try top())
        case .appends:
            let items = try popMark()
            try append(items, to: try top())
        case .addItems:
            let items = try popMark()
            try append(items, to: try top())
        case .setItem:
            let value = try pop(), key = try pop()
            try setItems([key, value], in: try top())
        case .setItems:
            let items = try popMark()
            try setItems(items, in: try top())

        // Memo
        case .get: push(try memoGet(try textIndex(try readLine())))
        case .binGet: push(try memoGet(Int(try readByte())))
        case .longBinGet: push(try memoGet(Int(try readUInt32())))
        case .put: try memoPut(try textIndex(try readLine()))
        case .binPut: try memoPut(Int(try readByte()))
        case .longBinPut: try memoPut(Int(try readUInt32()))
        case .memoize: try memoPut(memoCount)  // Python: len(memo)

        // Globals, calls, persistent ids
        case .global:
            let module = try textLine("module name"), name = try textLine("global name")
            push(try global(module: module, name: name))
        case .stackGlobal:
            let nameNode = try pop(), moduleNode = try pop()
            guard case let .string(module) = arena.nodes[moduleNode], case let .string(name) = arena.nodes[nameNode]
            else { throw invalid("STACK_GLOBAL needs two strings (module, name)") }
            push(try global(module: module, name: name))
        case .reduce:
            let args = try pop(), callee = try top()
            let result = try call(callee, args: args, kwargs: nil)
            stack[stack.count - 1] = result
        case .newObj:
            let args = try pop(), cls = try pop()
            push(try call(cls, args: args, kwargs: nil))
        case .newObjEx:
            let kwargs = try pop(), args = try pop(), cls = try pop()
            push(try call(cls, args: args, kwargs: kwargs))
        case .inst:
            let module = try textLine("module name"), name = try textLine("class name")
            let args = try container(.tuple, try popMark())
            push(try call(try global(module: module, name: name), args: args, kwargs: nil))
        case .obj:
            let items = try popMark()
            guard let cls = items.first else { throw invalid("OBJ needs a class after its MARK") }
            push(try call(cls, args: try container(.tuple, Array(items.dropFirst())), kwargs: nil))
        case .build:
            let state = try pop()
            try build(try top(), state: state)
        case .binPersID:
            let pid = try pop()
            push(try persistentLoad(pid))
        case .persID:
            _ = try readLine()
            throw invalid(
                "PERSID (a text persistent id) is not what torch.save writes; only BINPERSID tuples "
                    + "('storage', …) are accepted")
        case .ext1, .ext2, .ext4:
            throw invalid("\(op.name): the copyreg extension registry is not supported")
        }
    }

    /// Charges `units` of work to the budget.
    func spend(_ units: Int) throws {
        work += units
        guard work <= workLimit else {
            throw invalid(
                "the pickle makes its calls copy more than \(workLimit) elements or bytes in all (a "
                    + "\(data.count)-byte pickle reusing large values through the memo); refusing it")
        }
    }

    // MARK: - Stack

    /// Stack height at the last open MARK (0 with none): values below it belong to an outer frame.
    var markBase = 0

    func push(_ index: Int) { stack.append(index) }

    func underflow() throws -> Never {
        throw invalid(
            marks.isEmpty
                ? "stack underflow: \(opcode.name) needs more values than the stack holds"
                : "stack underflow: \(opcode.name) reaches below the last MARK")
    }

    func pop() throws -> Int {
        guard stack.count > markBase else { try underflow() }
        return stack.removeLast()
    }

    func top() throws -> Int {
        guard stack.count > markBase, let last = stack.last else { try underflow() }
        return last
    }

    /// The values above the last MARK, removing them and the mark.
    func popMark() throws -> [Int] {
        guard let mark = marks.popLast() else { throw invalid("\(opcode.name) without a preceding MARK") }
        markBase = marks.last ?? 0
        let items = Array(stack[mark...])
        stack.removeLast(stack.count - mark)
        return items
    }

    private func memoPut(_ index: Int) throws {
        let value = try top()
        if index < denseMemo.count {
            if denseMemo[index] < 0 { memoCount += 1 }
            denseMemo[index] = value
        } else if index == denseMemo.count && sparseMemo[index] == nil {
            denseMemo.append(value)
            memoCount += 1
        } else if sparseMemo.updateValue(value, forKey: index) == nil {
            memoCount += 1
        }
    }

    private func memoGet(_ index: Int) throws -> Int {
        let stored = index < denseMemo.count ? denseMemo[index] : (sparseMemo[index] ?? -1)
        guard stored >= 0 else { throw invalid("\(opcode.name) of memo slot \(index), which was never stored") }
        return stored
    }

    // MARK: - Nodes

    func node(_ node: PickleNode, depth: Int32 = 0) -> Int {
        arena.nodes.append(node)
        arena.depths.append(depth)
        return arena.nodes.count - 1
    }

    /// Depth of a container holding `items`, checked against the cap.
    func depth(holding items: [Int]) throws -> Int32 {
        var deepest: Int32 = 0
        for item in items where arena.depths[item] > deepest { deepest = arena.depths[item] }
        guard deepest < Self.maxDepth else {
            throw invalid("values nest deeper than \(Self.maxDepth) levels")
        }
        return deepest + 1
    }

    enum ContainerKind { case tuple, list, set, frozenset, dict }

    func container(_ kind: ContainerKind, _ items: [Int]) throws -> Int {
        let depth = try depth(holding: items)
        switch kind {
        case .dict:
            let dict = arena.dicts.count
            arena.dicts.append(PickleDict())
            let index = node(.dict(dict), depth: depth)
            try setItems(items, in: index)
            return index
        case .set, .frozenset:
            var seen = Set<PickleDictKey>()
            let unique = items.filter { seen.insert(dictKey($0)).inserted }
            let s = arena.sequences.count
            arena.sequences.append(unique)
            if kind == .set { setKeys[s] = seen }
            return node(kind == .set ? .set(s) : .frozenset(s), depth: depth)
        case .tuple, .list:
            let s = arena.sequences.count
            arena.sequences.append(items)
            return node(kind == .tuple ? .tuple(s) : .list(s), depth: depth)
        }
    }

    /// Raises `container`'s recorded depth to hold `items`. Parents that already hold `container` are not
    /// updated; the depth is a guard against pathological input, not an exact measure, and nothing in this
    /// reader recurses over values anyway.
    private func deepen(_ container: Int, holding items: [Int]) throws {
        let needed = try depth(holding: items)
        if needed > arena.depths[container] { arena.depths[container] = needed }
    }

    private func append(_ items: [Int], to target: Int) throws {
        try deepen(target, holding: items)
        switch arena.nodes[target] {
        case let .list(s) where opcode != .addItems:
            arena.sequences[s].append(contentsOf: items)
        case let .set(s) where opcode == .addItems:
            var seen = setKeys[s] ?? []
            let added = items.filter { seen.insert(dictKey($0)).inserted }
            setKeys[s] = seen
            arena.sequences[s].append(contentsOf: added)
        case let .object(o):
            let s: Int
            if let existing = arena.objects[o].listItems {
                s = existing
            } else {
                s = arena.sequences.count
                arena.sequences.append([])
                arena.objects[o].listItems = s
            }
            arena.sequences[s].append(contentsOf: items)
        default:
            throw invalid("\(opcode.name) to a \(PickleValueKind(arena.nodes[target]).rawValue)")
        }
    }

    private func setItems(_ items: [Int], in target: Int) throws {
        guard items.count % 2 == 0 else {
            throw invalid("\(opcode.name) needs key/value pairs but has \(items.count) values")
        }
        try deepen(target, holding: items)
        let dict: Int
        switch arena.nodes[target] {
        case let .dict(d): dict = d
        case let .object(o):
            if let d = arena.objects[o].dictItems {
                dict = d
            } else {
                dict = arena.dicts.count
                arena.dicts.append(PickleDict())
                arena.objects[o].dictItems = dict
            }
        default:
            throw invalid("\(opcode.name) on a \(PickleValueKind(arena.nodes[target]).rawValue), not a dict")
        }
        var i = 0
        while i < items.count {
            let key = items[i], value = items[i + 1]
            let identity = dictKey(key)
            if let slot = arena.dicts[dict].slots[identity] {
                arena.dicts[dict].values[slot] = value
            } else {
                let slot = arena.dicts[dict].keys.count
                arena.dicts[dict].slots[identity] = slot
                arena.dicts[dict].keys.append(key)
                arena.dicts[dict].values.append(value)
            }
            i += 2
        }
    }

    func dictKey(_ index: Int) -> PickleDictKey {
        switch arena.nodes[index] {
        case .none: return .none
        case let .bool(b): return .int(b ? 1 : 0)
        case let .int(v): return .int(v)
        case let .float(d):
            if d.rounded() == d, abs(d) < 0x1p63 { return .int(Int64(d)) }
            return .float(d.bitPattern)
        default: return .node(index)
        }
    }

    func string(_ text: String) -> Int {
        if let existing = internedStrings[text] { return existing }
        let index = node(.string(text))
        internedStrings[text] = index
        return index
    }

    func bytesNode(_ bytes: [UInt8]) -> Int {
        if let existing = internedBytes[bytes] { return existing }
        let index = node(.bytes(bytes))
        internedBytes[bytes] = index
        return index
    }

    /// A global reference (never imported). Python 2 module names are mapped as Python 3's unpickler does.
    func global(module rawModule: String, name: String) throws -> Int {
        try spend(rawModule.utf8.count + name.utf8.count)
        let module = TorchGlobals.python3Module(rawModule)
        let qualified = module + "." + name
        if let existing = globalNodes[qualified] { return existing }
        // Classified once here, not at every call.
        let global = PickleGlobal(module: module, name: name)
        let g = arena.globals.count
        arena.globals.append(global)
        let index = node(.global(g))
        globalNodes[qualified] = index
        if !global.isUnderstood, global.codeExecutionName == nil {
            opaqueGlobals.append(qualified)
        }
        return index
    }

    // MARK: - Reading

    func readByte() throws -> UInt8 {
        guard position < data.count else { throw truncated(1) }
        defer { position += 1 }
        return data[position]
    }

    func readUInt16() throws -> UInt16 { UInt16(littleEndian: try read(2).loadUnaligned(as: UInt16.self)) }
    func readUInt32() throws -> UInt32 { UInt32(littleEndian: try read(4).loadUnaligned(as: UInt32.self)) }
    func readUInt64() throws -> UInt64 { UInt64(littleEndian: try read(8).loadUnaligned(as: UInt64.self)) }

    private func truncated(_ wanted: UInt64) -> CheckpointError {
        invalid(
            "\(opcode.name) needs \(wanted) more bytes but only \(data.count - position) remain "
                + "(truncated pickle or corrupt length)")
    }

    /// The next `count` bytes; a length beyond the remaining data is an error before anything is allocated.
    func read(_ count: Int) throws -> UnsafeRawBufferPointer {
        try read(length: UInt64(count))
    }

    func read(length: UInt64) throws -> UnsafeRawBufferPointer {
        guard length <= UInt64(data.count - position) else { throw truncated(length) }
        let start = position
        position += Int(length)
        return UnsafeRawBufferPointer(rebasing: data[start..<position])
    }

    /// The bytes up to the next newline (consumed, not returned), for the text opcodes of protocol 0.
    func readLine() throws -> [UInt8] {
        let start = position
        var end = start
        while end < data.count, data[end] != 0x0A { end += 1 }
        guard end < data.count else {
            throw invalid("\(opcode.name) argument has no terminating newline before the end of the data")
        }
        position = end + 1
        return Array(data[start..<end])
    }

    private func textLine(_ what: String) throws -> String {
        let line = try readLine()
        let text = try line.withUnsafeBytes { buffer -> String in
            if let bad = UTF8Text.firstInvalidOffset(in: buffer) {
                throw invalid("\(opcode.name) \(what) is not UTF-8 (byte \(bad))")
            }
            return String(decoding: buffer, as: UTF8.self)
        }
        return text.hasSuffix("\r") ? String(text.dropLast()) : text
    }

    private func textIndex(_ line: [UInt8]) throws -> Int {
        let text = String(decoding: line, as: UTF8.self)
        guard let value = Int(text), value >= 0 else {
            throw invalid("\(opcode.name) memo index \(pythonRepr(text)) is not a non-negative integer")
        }
        return value
    }

    // MARK: - Decoding

    /// Protocol-0 INT / LONG: decimal text ("01"/"00" are True/False for INT; LONG may end in "L").
    private func textInt(_ line: [UInt8], allowBool: Bool) throws -> Int {
        var text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if allowBool && text == "01" { return node(.bool(true)) }
        if allowBool && text == "00" { return node(.bool(false)) }
        if !allowBool && text.hasSuffix("L") { text.removeLast() }
        if let value = Int64(text) { return node(.int(value)) }
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw invalid("\(opcode.name) \(pythonRepr(text)) is not an integer")
        }
        return node(.bigInt(text))
    }

    /// LONG1/LONG4: little-endian two's complement of any length.
    private func longFromBytes(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = bytes.count
        guard n > 0 else { return node(.int(0)) }
        let negative = bytes[n - 1] & 0x80 != 0
        let fill: UInt8 = negative ? 0xFF : 0x00
        // Fits in Int64 when every byte above the eighth only repeats the sign.
        if n <= 8 || (bytes[8...].allSatisfy { $0 == fill } && (bytes[7] & 0x80 != 0) == negative) {
            var value: UInt64 = negative ? UInt64.max : 0
            for i in 0..<min(n, 8) {
                value &= ~(UInt64(0xFF) << (8 * UInt64(i)))
                value |= UInt64(bytes[i]) << (8 * UInt64(i))
            }
            return node(.int(Int64(bitPattern: value)))
        }
        // Magnitude in hex: negate the two's complement for negative numbers (linear, no big arithmetic).
        var magnitude = Array(bytes)
        if negative {
            var carry = 1
            for i in 0..<n {
                let v = Int(~magnitude[i]) + carry
                magnitude[i] = UInt8(truncatingIfNeeded: v)
                carry = v >> 8
            }
        }
        while magnitude.count > 1 && magnitude.last == 0 { magnitude.removeLast() }
        let digits = magnitude.reversed().map { String(format: "%02x", $0) }.joined()
        let hex = digits.hasPrefix("0") ? String(digits.dropFirst()) : digits
        return node(.bigInt((negative ? "-0x" : "0x") + hex))
    }

    /// BINUNICODE and friends: UTF-8, strictly.
    private func unicode(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        if let bad = UTF8Text.firstInvalidOffset(in: bytes) {
            throw invalid("\(opcode.name) string is not valid UTF-8 (byte \(bad) of \(bytes.count))")
        }
        return string(String(decoding: bytes, as: UTF8.self))
    }

    /// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING): torch.load decodes it as UTF-8; anything else is
    /// kept as bytes rather than refused, since only tensor metadata matters here.
    private func python2String(_ bytes: [UInt8]) -> Int {
        let valid = bytes.withUnsafeBytes { UTF8Text.firstInvalidOffset(in: $0) == nil }
        return valid ? string(String(decoding: bytes, as: UTF8.self)) : bytesNode(bytes)
    }

    /// Protocol-0 UNICODE: raw-unicode-escape (latin-1 bytes, plus \uXXXX and \UXXXXXXXX escapes).
    private func rawUnicodeEscape(_ line: [UInt8]) throws -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < line.count {
            let byte = line[i]
            if byte == 0x5C, i + 1 < line.count, line[i + 1] == 0x75 || line[i + 1] == 0x55 {
                let width = line[i + 1] == 0x75 ? 4 : 8
                guard i + 2 + width <= line.count,
                    let value = UInt32(String(decoding: line[(i + 2)..<(i + 2 + width)], as: UTF8.self), radix: 16),
                    let scalar = Unicode.Scalar(value)
                else { throw invalid("UNICODE has a malformed \\u escape at argument byte \(i)") }
                scalars.append(scalar)
                i += 2 + width
            } else {
                scalars.append(Unicode.Scalar(byte))
                i += 1
            }
        }
        return String(scalars)
    }

    /// Protocol-0 STRING: a Python repr in single or double quotes, with backslash escapes.
    private func quotedString(_ line: [UInt8]) throws -> [UInt8] {
        var text = line
        if text.last == 0x0D { text.removeLast() }
        guard text.count >= 2, let quote = text.first, quote == 0x27 || quote == 0x22, text.last == quote else {
            throw invalid("STRING argument is not a quoted string")
        }
        let body = text[1..<(text.count - 1)]
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var i = body.startIndex
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x61...0x66: return b - 0x61 + 10
            case 0x41...0x46: return b - 0x41 + 10
            default: return nil
            }
        }
        while i < body.endIndex {
            let b = body[i]
            guard b == 0x5C, i + 1 < body.endIndex else { out.append(b); i += 1; continue }
            let e = body[i + 1]
            i += 2
            switch e {
            case 0x6E: out.append(0x0A)  // \n
            case 0x72: out.append(0x0D)  // \r
            case 0x74: out.append(0x09)  // \t
            case 0x61: out.append(0x07)  // \a
            case 0x62: out.append(0x08)  // \b
            case 0x66: out.append(0x0C)  // \f
            case 0x76: out.append(0x0B)  // \v
            case 0x5C, 0x27, 0x22: out.append(e)
            case 0x78:  // \xHH
                guard i + 1 < body.endIndex, let h = hex(body[i]), let l = hex(body[i + 1]) else {
                    throw invalid("STRING has a malformed \\x escape")
                }
                out.append(h << 4 | l)
                i += 2
            case 0x30...0x37:  // up to three octal digits
                var value = Int(e - 0x30)
                var digits = 1
                while digits < 3, i < body.endIndex, (0x30...0x37).contains(body[i]) {
                    value = value * 8 + Int(body[i] - 0x30)
                    i += 1
                    digits += 1
                }
                out.append(UInt8(truncatingIfNeeded: value))
            default: out.append(contentsOf: [b, e])  // unknown escapes stay as written, as in Python
            }
        }
        return out
    }
}

extension PickleValueKind {
    init(_ node: PickleNode) {
        switch node {
        case .none: self = .none
        case .bool: self = .bool
        case .int: self = .int
        case .bigInt: self = .bigInt
        case .float: self = .float
        case .string: self = .string
        case .bytes: self = .bytes
        case .tuple: self = .tuple
        case .list: self = .list
        case .set: self = .set
        case .frozenset: self = .frozenset
        case .dict: self = .dict
        case .global: self = .global
        case .object: self = .object
        case .storage: self = .storage
        case .tensor: self = .tensor
        }
    }
}
