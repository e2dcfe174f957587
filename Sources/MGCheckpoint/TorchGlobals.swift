import Foundation

// What the module-level names in a torch.save pickle mean to this reader. Nothing is ever imported or called:
// a global is either understood as data (storage classes, dtypes, the tensor rebuild functions, OrderedDict, …),
// recognised as a way to run code (refused when called), or opaque (kept as a name).
//
// The understood set follows what `torch.load(weights_only=True)` allows (torch/_weights_only_unpickler.py,
// `_get_allowed_globals`) and what `torch.save` writes (torch/serialization.py `_save`: persistent ids
// `('storage', torch.<X>Storage, key, location, numel)`; torch/_tensor.py `__reduce_ex__`: `_rebuild_tensor_v2`,
// or `_rebuild_tensor_v3` with an UntypedStorage and a dtype global for dtypes without a storage class;
// torch/nn/parameter.py: `_rebuild_parameter` / `_rebuild_parameter_with_state`).

// MARK: - Element types

/// A torch element type, as storage classes and dtype globals name it.
public struct TorchDType: Hashable, Sendable, CustomStringConvertible {
    /// torch's name: "float32", "bfloat16", "int64", …
    public let name: String
    /// Bytes per element.
    public let elementSize: Int
    /// The same element type as a safetensors code, when the format has one.
    public let safetensors: SafeTensorsDType?

    /// The `Tensor` dtype a tensor of this type loads as: the same type where `DType` has it; float64 narrows to
    /// float32 (rounded), int8/int16/uint16 widen to int32 and uint32 to int64 (exact); nil for the rest
    /// (complex, quantized, float8, uint64).
    public var loadDType: DType? {
        switch safetensors {
        case .F32?: return .float32
        case .F16?: return .float16
        case .BF16?: return .bfloat16
        case .I64?: return .int64
        case .I32?: return .int32
        case .U8?: return .uint8
        case .BOOL?: return .bool
        case .F64?: return .float32
        case .I8?, .I16?, .U16?: return .int32
        case .U32?: return .int64
        default: return nil
        }
    }

    public var description: String { safetensors?.rawValue ?? name }

    static let float64 = TorchDType(name: "float64", elementSize: 8, safetensors: .F64)
    static let float32 = TorchDType(name: "float32", elementSize: 4, safetensors: .F32)
    static let float16 = TorchDType(name: "float16", elementSize: 2, safetensors: .F16)
    static let bfloat16 = TorchDType(name: "bfloat16", elementSize: 2, safetensors: .BF16)
    static let int64 = TorchDType(name: "int64", elementSize: 8, safetensors: .I64)
    static let int32 = TorchDType(name: "int32", elementSize: 4, safetensors: .I32)
    static let int16 = TorchDType(name: "int16", elementSize: 2, safetensors: .I16)
    static let int8 = TorchDType(name: "int8", elementSize: 1, safetensors: .I8)
    static let uint8 = TorchDType(name: "uint8", elementSize: 1, safetensors: .U8)
    static let bool = TorchDType(name: "bool", elementSize: 1, safetensors: .BOOL)
    static let complex64 = TorchDType(name: "complex64", elementSize: 8, safetensors: .C64)
    static let complex128 = TorchDType(name: "complex128", elementSize: 16, safetensors: nil)
    static let qint8 = TorchDType(name: "qint8", elementSize: 1, safetensors: nil)
    static let quint8 = TorchDType(name: "quint8", elementSize: 1, safetensors: nil)
    static let qint32 = TorchDType(name: "qint32", elementSize: 4, safetensors: nil)
    static let quint4x2 = TorchDType(name: "quint4x2", elementSize: 1, safetensors: nil)
    static let quint2x4 = TorchDType(name: "quint2x4", elementSize: 1, safetensors: nil)

    /// `torch.<name>` dtype globals (with torch's aliases), as `_rebuild_tensor_v3` receives them.
    static let byGlobalName: [String: TorchDType] = {
        var table: [String: TorchDType] = [:]
        let all: [(TorchDType, [String])] = [
            (float64, ["float64", "double"]), (float32, ["float32", "float"]), (float16, ["float16", "half"]),
            (bfloat16, ["bfloat16"]), (int64, ["int64", "long"]), (int32, ["int32", "int"]),
            (int16, ["int16", "short"]), (int8, ["int8"]), (uint8, ["uint8"]), (bool, ["bool"]),
            (complex64, ["complex64", "cfloat"]), (complex128, ["complex128", "cdouble"]),
            (TorchDType(name: "complex32", elementSize: 4, safetensors: nil), ["complex32", "chalf"]),
            (TorchDType(name: "uint16", elementSize: 2, safetensors: .U16), ["uint16"]),
            (TorchDType(name: "uint32", elementSize: 4, safetensors: .U32), ["uint32"]),
            (TorchDType(name: "uint64", elementSize: 8, safetensors: .U64), ["uint64"]),
            (TorchDType(name: "float8_e4m3fn", elementSize: 1, safetensors: .F8_E4M3), ["float8_e4m3fn"]),
            (TorchDType(name: "float8_e5m2", elementSize: 1, safetensors: .F8_E5M2), ["float8_e5m2"]),
            (TorchDType(name: "float8_e4m3fnuz", elementSize: 1, safetensors: .F8_E4M3FNUZ), ["float8_e4m3fnuz"]),
            (TorchDType(name: "float8_e5m2fnuz", elementSize: 1, safetensors: .F8_E5M2FNUZ), ["float8_e5m2fnuz"]),
            (TorchDType(name: "float8_e8m0fnu", elementSize: 1, safetensors: .F8_E8M0), ["float8_e8m0fnu"]),
            (qint8, ["qint8"]), (quint8, ["quint8"]), (qint32, ["qint32"]), (quint4x2, ["quint4x2"]),
            (quint2x4, ["quint2x4"])
        ]
        for (dtype, names) in all { for name in names { table[name] = dtype } }
        return table
    }()
}

/// The storage classes a persistent id names (`torch.FloatStorage`, …, and `torch.UntypedStorage`, whose numel
/// counts bytes).
enum TorchStorageClass {
    static let byName: [String: TorchDType] = [
        "DoubleStorage": .float64, "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool, "ComplexFloatStorage": .complex64,
        "ComplexDoubleStorage": .complex128, "QInt8Storage": .qint8, "QUInt8Storage": .quint8,
        "QInt32Storage": .qint32, "QUInt4x2Storage": .quint4x2, "QUInt2x4Storage": .quint2x4,
        "UntypedStorage": .uint8
    ]

    /// Storage classes live in `torch` (older files may say `torch.cuda`; UntypedStorage also `torch.storage`).
    static func dtype(module: String, name: String) -> TorchDType? {
        guard module == "torch" || module == "torch.cuda" || module == "torch.storage" else { return nil }
        return byName[name]
    }
}

// MARK: - Callables understood as data

/// Globals whose calls this reader evaluates itself, as data.
enum TorchCallable {
    case rebuildTensor  // torch._utils._rebuild_tensor(storage, offset, size, stride)
    case rebuildTensorV2  // … (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
    case rebuildTensorV3  // … (storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
    case rebuildParameter  // torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)
    case rebuildParameterWithState  // … (data, requires_grad, backward_hooks, state)
    case rebuildFromTypeV2  // torch._tensor._rebuild_from_type_v2(func, new_type, args, state)
    case parameter  // torch.nn.parameter.Parameter(data[, requires_grad])
    case orderedDict  // collections.OrderedDict([items])
    case dict  // builtins.dict / collections.Counter / collections.defaultdict-free dicts
    case torchSize  // torch.Size(sequence)
    case codecsEncode  // _codecs.encode(text, encoding): how protocol 2 pickles bytes
    case set, frozenset, bytearray
    case getattr  // builtins.getattr(object, name): how pickle names methods and nested attributes
    /// Understood but kept as an opaque value without being reported as unknown (torch.device('cpu'), …).
    case inert

    static let byQualifiedName: [String: TorchCallable] = [
        "torch._utils._rebuild_tensor": .rebuildTensor,
        "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
        "torch._utils._rebuild_tensor_v3": .rebuildTensorV3,
        "torch._utils._rebuild_parameter": .rebuildParameter,
        "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
        "torch._tensor._rebuild_from_type_v2": .rebuildFromTypeV2,
        "torch.nn.parameter.Parameter": .parameter,
        "collections.OrderedDict": .orderedDict,
        "collections.Counter": .dict,
        "builtins.dict": .dict,
        "torch.Size": .torchSize,
        "_codecs.encode": .codecsEncode,
        "builtins.set": .set,
        "builtins.frozenset": .frozenset,
        "builtins.bytearray": .bytearray,
        "builtins.getattr": .getattr,
        "torch.device": .inert,
        "torch.Tensor": .inert,
        "torch.serialization._get_layout": .inert,
        "builtins.complex": .inert
    ]
}

// MARK: - Names

enum TorchGlobals {
    /// Python 2 module names that Python 3's unpickler maps (pickle's `_compat_pickle.IMPORT_MAPPING`, the part a
    /// checkpoint can meet); `torch.save` writes protocol 2, so `__builtin__` still appears (mmengine files use it).
    static func python3Module(_ module: String) -> String {
        switch module {
        case "__builtin__", "exceptions": return "builtins"
        case "copy_reg": return "copyreg"
        case "cPickle": return "pickle"
        case "commands": return "subprocess"
        default: return module
        }
    }

    /// What a global means to this reader, classified once per process per name: checkpoints (and shards of one
    /// checkpoint) repeat the same few dozen globals.
    struct Classification {
        let callable: TorchCallable?
        let codeExecutionName: String?
        let isUnderstood: Bool
    }

    static func classify(module: String, name: String) -> Classification {
        let qualified = module + "." + name
        if let known = classificationCache.value(for: qualified) { return known }
        let result = Classification(
            callable: TorchCallable.byQualifiedName[qualified],
            codeExecutionName: codeExecutionName(module: module, name: name),
            isUnderstood: isUnderstood(module: module, name: name))
        classificationCache.store(result, for: qualified)
        return result
    }

    private static let classificationCache = ClassificationCache()

    /// Whether a global is understood as data: storage classes, dtypes and `TorchCallable`s.
    static func isUnderstood(module: String, name: String) -> Bool {
        if TorchStorageClass.dtype(module: module, name: name) != nil { return true }
        if module == "torch", TorchDType.byGlobalName[name] != nil { return true }
        return TorchCallable.byQualifiedName[module + "." + name] != nil
    }

    // MARK: Code execution

    // A denylist only sharpens the diagnosis: this reader never calls anything, so a global it misses stays
    // inert. What it buys is a refusal, naming the call, of files that would run code under `torch.load`
    // (instead of quietly returning their tensors).

    /// Top-level modules whose members run commands, load code, touch files or the network, or change the
    /// interpreter, plus modules with import side effects (antigravity opens a browser).
    static let deniedModules: Set<String> = [
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "sys", "importlib", "imp",
        "runpy", "pty", "socket", "_socket", "socketserver", "shutil", "pickle", "_pickle", "cPickle", "dill",
        "cloudpickle", "joblib", "marshal", "code", "codeop", "ctypes", "_ctypes", "webbrowser", "multiprocessing",
        "asyncio", "threading", "_thread", "thread", "signal", "pdb", "bdb", "pydoc", "timeit", "cProfile",
        "profile", "trace", "platform", "commands", "popen2", "tempfile", "antigravity", "this", "http", "urllib",
        "urllib2", "urllib3", "requests", "httplib", "ftplib", "smtplib", "telnetlib", "xmlrpc", "distutils",
        "setuptools", "pip", "ensurepip", "venv", "site", "sysconfig", "gc", "inspect", "linecache", "zipimport",
        "pkgutil", "fcntl", "resource", "ssl"
    ]

    /// Modules that, reached through an attribute chain (`posixpath.os`, `numpy.sys`), give the same powers.
    static let deniedComponents: Set<String> = [
        "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtins__", "__builtin__", "importlib", "ctypes",
        "runpy", "pty", "socket", "shutil", "marshal", "pickle", "webbrowser", "multiprocessing"
    ]

    /// Builtins that evaluate code, import, open files or reach arbitrary attributes and namespaces.
    static let deniedBuiltins: Set<String> = [
        "eval", "exec", "execfile", "compile", "open", "file", "__import__", "setattr", "delattr", "globals",
        "locals", "vars", "input", "raw_input", "breakpoint", "exit", "quit", "help", "reload", "apply",
        "__loader__", "__build_class__"
    ]

    /// Attributes through which Python code reaches interpreter internals (the classic sandbox escapes).
    static let deniedAttributes: Set<String> = [
        "__globals__", "__builtins__", "__subclasses__", "__import__", "__code__", "__getattribute__", "__class__",
        "__base__", "__bases__", "__mro__", "__dict__", "__reduce__", "__reduce_ex__", "__setstate__", "__init__",
        "__new__", "__call__", "__func__", "__self__", "__module__", "__loader__", "__spec__", "__closure__",
        "system", "popen", "exec", "eval", "spawn", "fork", "load", "loads"
    ]

    /// Individual names elsewhere that run or load code.
    static let deniedNames: Set<String> = [
        "types.FunctionType", "types.CodeType", "types.LambdaType", "types.MethodType", "types.BuiltinFunctionType",
        "operator.attrgetter", "operator.methodcaller", "functools.reduce",
        "torch.load", "torch.serialization.load", "torch.serialization._load", "torch.jit.load",
        "torch._C.import_ir_module", "torch._C._load_for_lite_interpreter", "torch.package.PackageImporter",
        "numpy.load", "numpy.lib.npyio.load", "numpy.testing._private.utils.runstring", "numpy.f2py.compile",
        "pandas.read_pickle", "pandas.io.pickle.read_pickle", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
        "logging.config.listen", "logging.config.fileConfig", "copyreg.add_extension", "zipfile.ZipFile.extractall",
        "tarfile.open", "tarfile.TarFile.extractall", "codecs.open", "io.open", "io.open_code", "io.FileIO",
        "_io.open", "_io.open_code", "_io.FileIO"
    ]

    /// The name to quote when calling `global` (module, dotted name) would run code, or nil.
    static func codeExecutionName(module: String, name: String) -> String? {
        let qualified = module + "." + name
        let moduleParts = module.split(separator: ".", omittingEmptySubsequences: false)
        let nameParts = name.split(separator: ".", omittingEmptySubsequences: false)
        if let top = moduleParts.first, deniedModules.contains(String(top)) { return qualified }
        if moduleParts.dropFirst().contains(where: { deniedComponents.contains(String($0)) }) { return qualified }
        if nameParts.dropLast().contains(where: { deniedComponents.contains(String($0)) }) { return qualified }
        if module == "builtins", let first = nameParts.first, deniedBuiltins.contains(String(first)) {
            return qualified
        }
        // A getattr chain ("HistoryBuffer.min") ending in an attribute that reaches code.
        if nameParts.count > 1, let last = nameParts.last, deniedAttributes.contains(String(last)) { return qualified }
        if deniedNames.contains(qualified) { return qualified }
        for prefix in [
            "torch.hub", "numpy.f2py", "numpy.distutils", "numpy.testing", "logging.config", "yaml.",
            "pydoc", "torch.utils.cpp_extension", "torch._dynamo", "torch._inductor"
        ]
        where qualified.hasPrefix(prefix) {
            return qualified
        }
        return nil
    }
}

/// A small thread-safe memo for `TorchGlobals.classify`, emptied when it grows large (a crafted file can name
/// any number of distinct globals).
private final class ClassificationCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: TorchGlobals.Classification] = [:]

    func value(for name: String) -> TorchGlobals.Classification? {
        lock.lock()
        defer { lock.unlock() }
        return entries[name]
    }

    func store(_ classification: TorchGlobals.Classification, for name: String) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= 4096 { entries.removeAll(keepingCapacity: true) }
        entries[name] = classification
    }
}
