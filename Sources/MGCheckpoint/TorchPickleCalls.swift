import Foundation

// How the unpickler treats calls, BUILD and persistent ids. Nothing is ever called: a call to a global that
// torch.save uses for data (tensor rebuild functions, OrderedDict, torch.Size, _codecs.encode, …) is evaluated
// here as data; a call that would run code (`TorchGlobals.codeExecutionName`) is refused with an error before
// anything after it is read; every other call becomes an inert `PickleObject` that keeps callee, arguments and
// state as data. This is what lets an mmengine checkpoint — whose `message_hub` holds numpy arrays and a custom
// HistoryBuffer class — yield its `state_dict`, where `torch.load(weights_only=True)` refuses the whole file.

extension PickleMachine {
    // MARK: - Calls

    /// REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ: `callee(*args, **kwargs)`, evaluated as data or kept inert.
    func call(_ callee: Int, args: Int, kwargs: Int?) throws -> Int {
        // Refusals come first, so a file that would run code fails at that call, before any tensor after it.
        if case let .global(g) = arena.nodes[callee], let name = arena.globals[g].codeExecutionName {
            throw refusal(name, call: "\(name)(\(argumentSummary(args)))")
        }
        // A code-running global handed to another callable: functools.partial(os.system, …), map(eval, …). Only
        // the first few arguments are looked at, so a large argument tuple reused by many calls stays cheap.
        for item in directItems(args).prefix(8) + (kwargs.map(directItems) ?? []).prefix(8) {
            guard case let .global(g) = arena.nodes[item] else { continue }
            if let name = arena.globals[g].codeExecutionName {
                throw refusal(
                    name,
                    call: "\(calleeName(callee))(\(name), …) (\(name) would be called with "
                        + "\(argumentSummary(args)))")
            }
        }

        guard case let .global(g) = arena.nodes[callee], let known = arena.globals[g].callable else {
            return try opaqueCall(callee, args: args, kwargs: kwargs)
        }
        let name = arena.globals[g].qualifiedName
        if known == .inert { return try opaqueCall(callee, args: args, kwargs: kwargs) }
        if let kwargs, (count(of: kwargs) ?? 1) > 0 { return try opaqueCall(callee, args: args, kwargs: kwargs) }
        guard case let .tuple(s) = arena.nodes[args] else {
            throw invalid("\(opcode.name) of \(name): arguments are a \(kind(args)), not a tuple")
        }
        let items = arena.sequences[s]

        switch known {
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3:
            return try rebuildTensor(known, name: name, args: items)
        case .rebuildParameter, .rebuildParameterWithState, .parameter:
            // A Parameter is its data tensor plus requires_grad/hooks/state, which a state dict does not need.
            if let data = items.first, case .tensor = arena.nodes[data] { return data }
        case .rebuildFromTypeV2:
            // (func, new_type, args, state): a tensor subclass (Parameter, …) rebuilt by func(*args).
            if items.count == 4, case let .global(f) = arena.nodes[items[0]],
                let inner = arena.globals[f].callable,
                [.rebuildTensor, .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter].contains(inner),
                case .tuple = arena.nodes[items[2]]
            {
                return try call(items[0], args: items[2], kwargs: nil)
            }
        case .orderedDict, .dict:
            if let dict = try dictFromArguments(items) {
                if known == .orderedDict, case let .dict(d) = arena.nodes[dict] { arena.dicts[d].isOrdered = true }
                return dict
            }
        case .torchSize:
            if items.count == 1, let dims = sequenceItems(items[0]) {
                try spend(dims.count)
                if dims.allSatisfy({ if case .int = arena.nodes[$0] { return true } else { return false } }) {
                    return try container(.tuple, dims)
                }
            }
        case .codecsEncode:
            if let bytes = try encodedBytes(items) { return bytesNode(bytes) }
        case .set, .frozenset:
            if items.isEmpty { return try container(known == .set ? .set : .frozenset, []) }
            if items.count == 1, let elements = sequenceItems(items[0]) {
                try spend(elements.count)
                return try container(known == .set ? .set : .frozenset, elements)
            }
        case .bytearray:
            if items.isEmpty { return bytesNode([]) }
            if items.count == 1, case .bytes = arena.nodes[items[0]] { return items[0] }
        case .getattr:
            if let attribute = try getattr(items) { return attribute }
        case .inert:
            break
        }
        return try opaqueCall(callee, args: args, kwargs: nil)
    }

    /// An inert record of a call this reader does not evaluate.
    private func opaqueCall(_ callee: Int, args: Int, kwargs: Int?) throws -> Int {
        let depth = try depth(holding: [callee, args] + (kwargs.map { [$0] } ?? []))
        let o = arena.objects.count
        arena.objects.append(PickleObject(callee: callee, args: args, kwargs: kwargs))
        return node(.object(o), depth: depth)
    }

    // MARK: - BUILD

    /// BUILD: `inst.__setstate__(state)` in Python. Kept as data on opaque objects and dicts; refused on a bare
    /// global, where it would set attributes of a module or class (monkey-patching code that runs later).
    func build(_ instance: Int, state: Int) throws {
        try deepenForBuild(instance, state: state)
        switch arena.nodes[instance] {
        case let .object(o): arena.objects[o].state = state
        case let .dict(d): arena.dicts[d].state = state
        case .tensor: break  // legacy Tensor.set_ state: the tensor was already validated
        case let .global(g):
            let name = arena.globals[g].qualifiedName
            throw refusal(name, call: "setattr(\(name), …) via BUILD with \(argumentSummary(state))")
        default:
            throw invalid("BUILD on a \(kind(instance)) (only objects, dicts and tensors take state)")
        }
    }

    private func deepenForBuild(_ instance: Int, state: Int) throws {
        let needed = try depth(holding: [state])
        if needed > arena.depths[instance] { arena.depths[instance] = needed }
    }

    // MARK: - Persistent ids

    /// BINPERSID: `('storage', storage_type, key, location, numel)` → the archive entry `data/<key>`, whose byte
    /// length must equal numel × element size. A key seen before must name the same type and size.
    func persistentLoad(_ pid: Int) throws -> Int {
        if let loaded = loadedPersistentIDs[pid] { return loaded }
        let storage = try resolvePersistentID(pid)
        loadedPersistentIDs[pid] = storage
        return storage
    }

    private func resolvePersistentID(_ pid: Int) throws -> Int {
        guard case let .tuple(s) = arena.nodes[pid] else {
            throw invalid("persistent id is a \(kind(pid)); torch.save writes ('storage', type, key, location, numel)")
        }
        let items = arena.sequences[s]
        guard items.count == 5, isText(items[0], "storage") else {
            throw invalid("persistent id \(argumentSummary(pid)) is not ('storage', type, key, location, numel)")
        }
        guard case let .global(g) = arena.nodes[items[1]],
            let dtype = TorchStorageClass.dtype(module: arena.globals[g].module, name: arena.globals[g].name)
        else {
            throw invalidStorage("persistent id names storage type \(describe(items[1])), not a torch storage class")
        }
        let key: String
        switch arena.nodes[items[2]] {
        case let .string(text): key = text
        case let .int(number): key = String(number)
        default: throw invalidStorage("storage key is a \(kind(items[2])), not a string")
        }
        try spend(key.utf8.count)
        guard case let .int(numel64) = arena.nodes[items[4]], numel64 >= 0 else {
            throw invalidStorage("storage '\(key)' has element count \(describe(items[4])), not a non-negative integer")
        }
        let numel = Int(numel64)
        if let existing = storageNodes[key] {
            guard case let .storage(r) = arena.nodes[existing] else { return existing }
            let record = arena.storages[r]
            guard record.dtype == dtype, record.elementCount == numel else {
                throw invalidStorage(
                    "storage '\(key)' is referenced as \(numel) × \(dtype.name) here but as "
                        + "\(record.elementCount) × \(record.dtype.name) before")
            }
            return existing
        }
        guard let entry = storageEntry(key) else {
            throw CheckpointError.missingEntry(
                path: path, entry: storagePrefix + key,
                reason: "\(entryName) refers to storage '\(key)' at byte \(opcodeOffset)")
        }
        let (bytes, overflow) = numel.multipliedReportingOverflow(by: dtype.elementSize)
        guard !overflow, bytes == entry.size else {
            throw invalidStorage(
                "storage '\(key)' is \(numel) × \(dtype.name) (\(dtype.elementSize) bytes each) = "
                    + "\(overflow ? "more than Int.max" : String(bytes)) bytes, but entry "
                    + "\(entry.name) holds \(entry.size) bytes")
        }
        let r = arena.storages.count
        arena.storages.append(TorchStorageRecord(key: key, entry: entry, dtype: dtype, elementCount: numel))
        let index = node(.storage(r))
        storageNodes[key] = index
        return index
    }

    // MARK: - Tensors

    /// `_rebuild_tensor(storage, storage_offset, size, stride)`, `_rebuild_tensor_v2(…, requires_grad,
    /// backward_hooks[, metadata])`, `_rebuild_tensor_v3(…, requires_grad, backward_hooks, dtype[, metadata])`.
    /// The view is validated here, once: sizes and strides non-negative, element count and every index computed
    /// with overflow checks, and the furthest element inside the storage.
    private func rebuildTensor(_ variant: TorchCallable, name: String, args: [Int]) throws -> Int {
        let counts: ClosedRange<Int>
        switch variant {
        case .rebuildTensor: counts = 4...4
        case .rebuildTensorV2: counts = 6...7
        default: counts = 7...8
        }
        guard counts.contains(args.count) else {
            let expected = counts.count == 1 ? "\(counts.lowerBound)" : "\(counts.lowerBound)–\(counts.upperBound)"
            throw invalidStorage("\(name) takes \(expected) arguments, got \(args.count)")
        }
        guard case let .storage(storageID) = arena.nodes[args[0]] else {
            throw invalidStorage("\(name): first argument is \(describe(args[0])), not a storage (persistent id)")
        }
        let storage = arena.storages[storageID]
        var dtype = storage.dtype
        if variant == .rebuildTensorV3 {
            guard case let .global(g) = arena.nodes[args[6]], arena.globals[g].module == "torch",
                let named = TorchDType.byGlobalName[arena.globals[g].name]
            else { throw invalidStorage("\(name): dtype argument is \(describe(args[6])), not a torch dtype") }
            dtype = named
        }
        guard case let .int(offset64) = arena.nodes[args[1]], offset64 >= 0, let offset = Int(exactly: offset64) else {
            throw invalidStorage("\(name): storage_offset is \(describe(args[1])), not a non-negative integer")
        }
        try spend((sequenceItems(args[2])?.count ?? 0) + (sequenceItems(args[3])?.count ?? 0))
        let shape = try dimensions(args[2], name: name, what: "size")
        let stride = try dimensions(args[3], name: name, what: "stride")
        guard shape.count == stride.count else {
            throw invalidStorage("\(name): size \(shape) and stride \(stride) have different lengths")
        }

        // Element count, then the furthest element: offset + Σ (size_i − 1) × stride_i.
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw invalidStorage("\(name): size \(shape) has more than Int.max elements") }
            count = product
        }
        guard !count.multipliedReportingOverflow(by: dtype.elementSize).overflow else {
            throw invalidStorage("\(name): size \(shape) of \(dtype.name) takes more than Int.max bytes")
        }
        if count > 0 {
            var furthest = offset
            for (dim, step) in zip(shape, stride) {
                let (reach, overflow1) = (dim - 1).multipliedReportingOverflow(by: step)
                let (sum, overflow2) = furthest.addingReportingOverflow(reach)
                guard !overflow1, !overflow2 else {
                    throw invalidStorage("\(name): offset \(offset), size \(shape), stride \(stride) overflow Int")
                }
                furthest = sum
            }
            let storageBytes = storage.elementCount * storage.dtype.elementSize  // ≤ the entry's size
            let (end, overflow) = (furthest + 1).multipliedReportingOverflow(by: dtype.elementSize)
            guard !overflow, end <= storageBytes else {
                throw invalidStorage(
                    "\(name): offset \(offset), size \(shape), stride \(stride) reach element "
                        + "\(furthest) of \(dtype.name), outside storage '\(storage.key)' of "
                        + "\(storageBytes / dtype.elementSize) elements")
            }
        }
        var requiresGrad = false
        if args.count > 4, case let .bool(flag) = arena.nodes[args[4]] { requiresGrad = flag }
        let t = arena.tensors.count
        arena.tensors.append(
            TorchTensorRecord(
                storage: storageID, dtype: dtype, storageOffset: offset, shape: shape,
                stride: stride, elementCount: count, requiresGrad: requiresGrad))
        return node(.tensor(t), depth: 1)
    }

    /// A size or stride: a tuple or list of non-negative integers.
    private func dimensions(_ index: Int, name: String, what: String) throws -> [Int] {
        guard let items = sequenceItems(index) else {
            throw invalidStorage("\(name): \(what) is \(describe(index)), not a tuple of integers")
        }
        return try items.map { item in
            guard case let .int(value) = arena.nodes[item], value >= 0, let dim = Int(exactly: value) else {
                throw invalidStorage(
                    "\(name): \(what) has element \(describe(item)); sizes and strides must be "
                        + "non-negative integers")
            }
            return dim
        }
    }

    // MARK: - Other data globals

    /// `OrderedDict()` / `dict()`, or from one argument: a dict or a sequence of (key, value) pairs.
    private func dictFromArguments(_ items: [Int]) throws -> Int? {
        if items.isEmpty { return try container(.dict, []) }
        guard items.count == 1 else { return nil }
        if case let .dict(d) = arena.nodes[items[0]] {
            let source = arena.dicts[d]
            try spend(source.keys.count)
            return try container(.dict, Array(zip(source.keys, source.values).flatMap { [$0, $1] }))
        }
        guard let pairs = sequenceItems(items[0]) else { return nil }
        try spend(pairs.count)
        var flat: [Int] = []
        flat.reserveCapacity(pairs.count * 2)
        for pair in pairs {
            guard let kv = sequenceItems(pair), kv.count == 2 else { return nil }
            flat.append(contentsOf: kv)
        }
        return try container(.dict, flat)
    }

    /// `_codecs.encode(text, 'latin1')` is how protocol 2 spells a `bytes` object; utf-8 is accepted too.
    private func encodedBytes(_ items: [Int]) throws -> [UInt8]? {
        guard (1...2).contains(items.count), case let .string(text) = arena.nodes[items[0]] else { return nil }
        try spend(text.utf8.count)
        var encoding = "utf-8"
        if items.count == 2 {
            guard case let .string(name) = arena.nodes[items[1]] else { return nil }
            encoding = name.lowercased().replacingOccurrences(of: "_", with: "-")
        }
        switch encoding {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else {
                    throw invalid(String(format: "_codecs.encode: U+%04X cannot be encoded as latin-1", scalar.value))
                }
                bytes.append(UInt8(scalar.value))
            }
            return bytes
        case "utf-8", "utf8": return Array(text.utf8)
        default: return nil
        }
    }

    /// `getattr(global, 'name')`, as pickle spells methods (`getattr(HistoryBuffer, 'min')`), becomes the
    /// dotted global `module.Class.name`, so calling it later meets the same refusal rules as any global.
    /// Reaching interpreter internals (`__globals__`, `__subclasses__`, …) is refused at once.
    private func getattr(_ items: [Int]) throws -> Int? {
        guard (2...3).contains(items.count), case let .string(attribute) = arena.nodes[items[1]] else { return nil }
        if attribute.hasPrefix("__"), TorchGlobals.deniedAttributes.contains(attribute) {
            throw refusal("builtins.getattr", call: "getattr(\(describe(items[0])), \(pythonRepr(attribute)))")
        }
        guard case let .global(g) = arena.nodes[items[0]] else { return nil }
        let target = arena.globals[g]
        try spend(target.name.utf8.count + attribute.utf8.count)
        return try global(module: target.module, name: target.name + "." + attribute)
    }

    // MARK: - Helpers

    func refusal(_ callee: String, call: String) -> CheckpointError {
        .codeExecution(path: path, entry: entryName, offset: opcodeOffset, callee: callee, call: call)
    }

    private func kind(_ index: Int) -> String { PickleValueKind(arena.nodes[index]).rawValue }

    private func count(of index: Int) -> Int? {
        switch arena.nodes[index] {
        case let .tuple(s), let .list(s), let .set(s), let .frozenset(s): return arena.sequences[s].count
        case let .dict(d): return arena.dicts[d].keys.count
        default: return nil
        }
    }

    /// Elements of a tuple or list (sets too, for set()/frozenset()).
    private func sequenceItems(_ index: Int) -> [Int]? {
        switch arena.nodes[index] {
        case let .tuple(s), let .list(s), let .set(s), let .frozenset(s): return arena.sequences[s]
        default: return nil
        }
    }

    /// The values a call receives directly: tuple elements, or a kwargs dict's keys and values.
    private func directItems(_ index: Int) -> [Int] {
        if let items = sequenceItems(index) { return items }
        if case let .dict(d) = arena.nodes[index] { return arena.dicts[d].keys + arena.dicts[d].values }
        return [index]
    }

    /// Whether a node is the str (or, from Python 2 pickles, bytes) `text`, without decoding large values.
    private func isText(_ index: Int, _ text: String) -> Bool {
        switch arena.nodes[index] {
        case let .string(value): return value == text
        case let .bytes(value): return value.count == text.utf8.count && value.elementsEqual(text.utf8)
        default: return false
        }
    }

    private func textValue(_ index: Int) -> String? {
        switch arena.nodes[index] {
        case let .string(text): return text
        case let .bytes(bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    private func calleeName(_ index: Int) -> String {
        if case let .global(g) = arena.nodes[index] { return arena.globals[g].qualifiedName }
        return "<computed \(kind(index))>"
    }

    /// A value in one short phrase, for messages (never descends into containers).
    func describe(_ index: Int) -> String {
        switch arena.nodes[index] {
        case let .string(text): return pythonRepr(text, limit: 80)
        case let .int(value): return String(value)
        case let .bigInt(text): return text
        case let .global(g): return arena.globals[g].qualifiedName
        default: return "a \(kind(index))"
        }
    }

    /// The arguments of a refused call as Python would print them, showing strings (a command line) and looking
    /// one level into lists and tuples (subprocess.Popen(['sh', '-c', …])); other values by kind.
    private func argumentSummary(_ args: Int) -> String {
        let items = sequenceItems(args) ?? [args]
        let shown = items.prefix(4).map { item -> String in
            if let text = textValue(item) { return pythonRepr(text) }
            if let inner = sequenceItems(item) {
                let parts = inner.prefix(6).map { textValue($0).map { pythonRepr($0) } ?? describe($0) }
                return "[" + parts.joined(separator: ", ") + (inner.count > 6 ? ", …" : "") + "]"
            }
            return describe(item)
        }
        return shown.joined(separator: ", ") + (items.count > 4 ? ", …" : "")
    }
}
