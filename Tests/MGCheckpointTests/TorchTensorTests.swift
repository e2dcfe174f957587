import Foundation
import XCTest
@testable import MGCheckpoint

/// Storages and tensor views: validation (one test per defence), layouts, dtypes, byte order, state-dict lookup.
final class TorchTensorTests: XCTestCase {
    /// A state dict built by `body` between beginStateDict/endStateDict, over the given storages.
    func stateDictFile(
        _ storages: [String: [UInt8]], byteOrder: String = "little", dataShift: Int = 0,
        _ body: (inout PickleWriter) -> Void
    ) throws -> TorchCheckpointFile {
        var p = PickleWriter()
        p.beginStateDict()
        body(&p)
        p.endStateDict()
        p.stop()
        return try openTorch(torchArchive(p.bytes, storages: storages, byteOrder: byteOrder, dataShift: dataShift))
    }

    func storageError(
        _ storages: [String: [UInt8]], _ fragments: String..., file: StaticString = #filePath,
        line: UInt = #line, _ body: (inout PickleWriter) -> Void
    ) {
        let error = expectTorchError({ try self.stateDictFile(storages, body) }, file: file, line: line)
        for fragment in fragments where !(error?.description.contains(fragment) ?? false) {
            XCTFail("message lacks '\(fragment)': \(error?.description ?? "nil")", file: file, line: line)
        }
    }

    let six = ["0": f32Bytes([0, 1, 2, 3, 4, 5])]

    // MARK: - Defences

    func testStorageSizeMustMatchItsEntry() {
        storageError(
            ["0": f32Bytes([1, 2, 3])],
            "storage '0' is 10 × float32 (4 bytes each) = 40 bytes, but entry archive/data/0 holds 12 bytes"
        ) {
            $0.string("w"); $0.tensor(key: "0", numel: 10, shape: [3])
        }
        storageError(["0": []], "more than Int.max") {
            $0.string("w"); $0.tensor(key: "0", numel: Int.max / 2, shape: [0])
        }
    }

    func testViewsOutsideTheStorage() {
        storageError(six, "reach element 6 of float32, outside storage '0' of 6 elements") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [7])
        }
        storageError(six, "offset 5, size [2], stride [1] reach element 6") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, offset: 5, shape: [2])
        }
        storageError(six, "reach element 8") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [2, 3], stride: [4, 2])
        }
        // Within bounds at the last element exactly: fine.
        XCTAssertNoThrow(
            try stateDictFile(six) {
                $0.string("w"); $0.tensor(key: "0", numel: 6, offset: 3, shape: [3])
            })
    }

    func testNegativeAndOverflowingShapesAndStrides() {
        storageError(six, "size has element -1; sizes and strides must be non-negative") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [-1], stride: [1])
        }
        storageError(six, "stride has element -2") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [2], stride: [-2])
        }
        storageError(six, "storage_offset is -1") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, offset: -1, shape: [1])
        }
        storageError(six, "has more than Int.max elements") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [1 << 62, 4], stride: [4, 1])
        }
        storageError(six, "overflow Int") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [3], stride: [1 << 62])
        }
        storageError(six, "reach element 4611686018427387904") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [2], stride: [1 << 62])
        }
        storageError(six, "size [2] and stride [1, 1] have different lengths") {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [2], stride: [1, 1])
        }
        storageError(six, "size is 'big', not a tuple of integers") {
            $0.string("w")
            $0.global("torch._utils", "_rebuild_tensor_v2")
            $0.mark(); $0.storage("FloatStorage", key: "0", numel: 6); $0.int(0); $0.string("big"); $0.ints([1])
            $0.bool(false); $0.orderedDict(); $0.tuple(); $0.reduce()
        }
        // Dimensions beyond Int64 (LONG1 of 9 bytes) are refused too.
        storageError(six, "size has element 0x10000000000000000") {
            $0.string("w")
            $0.global("torch._utils", "_rebuild_tensor_v2")
            $0.mark(); $0.storage("FloatStorage", key: "0", numel: 6); $0.int(0)
            $0.mark(); $0.op(0x8A, [9, 0, 0, 0, 0, 0, 0, 0, 0, 1]); $0.tuple(); $0.ints([1])
            $0.bool(false); $0.orderedDict(); $0.tuple(); $0.reduce()
        }
    }

    /// Zero strides let a tiny storage describe a huge tensor (a valid torch view). Reading its metadata is
    /// fine; gathering it is refused above a limit instead of exhausting memory.
    func testHugeExpandedViews() throws {
        let file = try stateDictFile(["0": f32Bytes([7])]) {
            $0.string("expanded"); $0.tensor(key: "0", numel: 1, shape: [1 << 40], stride: [0])
            $0.string("small"); $0.tensor(key: "0", numel: 1, shape: [4, 3], stride: [0, 0])
        }
        XCTAssertEqual(try file.info(for: "expanded").elementCount, 1 << 40)
        XCTAssertEqual(try file.tensor("small").toArray(), [Float](repeating: 7, count: 12))
        let error = expectTorchError { try file.tensor("expanded") }
        XCTAssertTrue(
            error?.description.contains("tensor 'expanded' is a view of 1099511627776 elements") ?? false,
            "\(String(describing: error))")
        XCTAssertTrue(error?.description.contains("more than the 1073741824-byte limit") ?? false)
        storageError(["0": f32Bytes([7])], "size [4611686018427387904] of float32 takes more than Int.max bytes") {
            $0.string("w"); $0.tensor(key: "0", numel: 1, shape: [1 << 62], stride: [0])
        }
    }

    func testMissingStorageEntry() {
        let error = expectTorchError {
            try self.stateDictFile([:]) {
                $0.string("w"); $0.tensor(key: "7", numel: 1, shape: [1])
            }
        }
        guard case let .missingEntry(_, entry, reason)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(entry, "archive/data/7")
        XCTAssertTrue(reason.hasPrefix("archive/data.pkl refers to storage '7' at byte "), reason)
    }

    func testStorageKeyReusedWithAnotherTypeOrSize() {
        storageError(six, "storage '0' is referenced as 12 × float16 here but as 6 × float32 before") {
            $0.string("a"); $0.tensor(key: "0", numel: 6, shape: [6])
            $0.string("b"); $0.tensor("HalfStorage", key: "0", numel: 12, shape: [12])
        }
    }

    func testMalformedPersistentIDsAndRebuildCalls() {
        storageError(six, "is not ('storage', type, key, location, numel)") {
            $0.string("w")
            $0.mark(); $0.string("module"); $0.global("torch", "FloatStorage"); $0.string("0"); $0.string("cpu")
            $0.int(6); $0.tuple(); $0.binPersID()
        }
        storageError(six, "persistent id is a int") {
            $0.string("w"); $0.int(3); $0.binPersID()
        }
        storageError(six, "names storage type torch.Tensor, not a torch storage class") {
            $0.string("w")
            $0.mark(); $0.string("storage"); $0.global("torch", "Tensor"); $0.string("0"); $0.string("cpu")
            $0.int(6); $0.tuple(); $0.binPersID()
        }
        storageError(six, "element count -6, not a non-negative integer") {
            $0.string("w"); $0.storage("FloatStorage", key: "0", numel: -6)
        }
        storageError(six, "_rebuild_tensor_v2 takes 6–7 arguments, got 2") {
            $0.string("w"); $0.global("torch._utils", "_rebuild_tensor_v2")
            $0.storage("FloatStorage", key: "0", numel: 6); $0.int(0); $0.tuple2(); $0.reduce()
        }
        storageError(six, "_rebuild_tensor: first argument is 'x', not a storage") {
            $0.string("w"); $0.global("torch._utils", "_rebuild_tensor")
            $0.mark(); $0.string("x"); $0.int(0); $0.ints([1]); $0.ints([1]); $0.tuple(); $0.reduce()
        }
        storageError(six, "arguments are a list, not a tuple") {
            $0.string("w"); $0.global("torch._utils", "_rebuild_tensor"); $0.emptyList(); $0.reduce()
        }
    }

    // MARK: - Layouts

    func testStridedViewsAreGathered() throws {
        let file = try stateDictFile(six) {
            $0.string("transposed"); $0.tensor(key: "0", numel: 6, shape: [3, 2], stride: [1, 3])
            $0.string("every_other"); $0.tensor(key: "0", numel: 6, offset: 1, shape: [3], stride: [2])
            $0.string("expanded"); $0.tensor(key: "0", numel: 6, offset: 3, shape: [2, 3], stride: [0, 1])
            $0.string("block"); $0.tensor(key: "0", numel: 6, offset: 1, shape: [2, 2], stride: [3, 1])
            $0.string("rank4"); $0.tensor(key: "0", numel: 6, shape: [2, 1, 3, 1], stride: [1, 7, 2, 9])
        }
        let transposed = try file.tensor("transposed")
        XCTAssertEqual(transposed.shape, [3, 2])
        XCTAssertEqual(transposed.toArray(), [0, 3, 1, 4, 2, 5])
        XCTAssertFalse(file.holds(transposed))
        XCTAssertEqual(try file.tensor("every_other").toArray(), [1, 3, 5])
        XCTAssertEqual(try file.tensor("expanded").toArray(), [3, 4, 5, 3, 4, 5])
        XCTAssertEqual(try file.tensor("block").toArray(), [1, 2, 4, 5])
        XCTAssertEqual(try file.tensor("rank4").toArray(), [0, 2, 4, 1, 3, 5])
        XCTAssertFalse(try file.info(for: "transposed").isContiguous)
        XCTAssertEqual(try file.info(for: "expanded").stride, [0, 1])
    }

    func testScalarEmptyAndSharedStorages() throws {
        let file = try stateDictFile(["0": f32Bytes([0, 1, 2, 3, 4, 5]), "1": []]) {
            $0.string("scalar"); $0.tensor(key: "0", numel: 6, offset: 2, shape: [], stride: [])
            $0.string("empty"); $0.tensor(key: "1", numel: 0, shape: [0, 3])
            $0.string("weight"); $0.tensor(key: "0", numel: 6, shape: [2, 3])
            $0.string("tied"); $0.tensor(key: "0", numel: 6, shape: [2, 3])
            $0.string("tail"); $0.tensor(key: "0", numel: 6, offset: 4, shape: [2])
        }
        let scalar = try file.tensor("scalar")
        XCTAssertEqual(scalar.shape, [])
        XCTAssertEqual(scalar.toArray(), [2])
        let empty = try file.tensor("empty")
        XCTAssertEqual(empty.shape, [0, 3])
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(try file.info(for: "empty").elementCount, 0)

        // Tied weights and views share one storage: all zero-copy, over the same bytes.
        let weight = try file.tensor("weight"), tied = try file.tensor("tied"), tail = try file.tensor("tail")
        XCTAssertTrue(file.holds(weight) && file.holds(tied) && file.holds(tail))
        XCTAssertEqual(weight.storage.pointer, tied.storage.pointer)
        XCTAssertEqual(tail.storage.pointer, weight.storage.pointer + 16)
        XCTAssertEqual(tail.toArray(), [4, 5])
        XCTAssertEqual(try file.tensorInfos().map(\.storageKey), ["0", "1", "0", "0", "0"])
        // A copy is the caller's own.
        let copied = try file.tensor("weight", copy: true)
        XCTAssertFalse(file.holds(copied))
        XCTAssertEqual(copied.toArray(), [0, 1, 2, 3, 4, 5])
    }

    func testTensorsOutliveTheirFile() throws {
        var tensor: Tensor?
        do {
            let file = try stateDictFile(six) {
                $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [6])
            }
            tensor = try file.tensor("w")
        }
        XCTAssertEqual(tensor?.toArray(), [0, 1, 2, 3, 4, 5], "a borrowed storage keeps the file alive")
    }

    func testMisalignedDataIsCopied() throws {
        // Data 2 bytes past a 64-byte boundary: float32 elements are misaligned, so they are copied.
        let file = try stateDictFile(six, dataShift: 2) {
            $0.string("w"); $0.tensor(key: "0", numel: 6, shape: [6])
        }
        let w = try file.tensor("w")
        XCTAssertFalse(file.holds(w))
        XCTAssertEqual(w.toArray(), [0, 1, 2, 3, 4, 5])
    }

    // MARK: - Rebuild variants

    func testParametersSubclassesAndV3() throws {
        let half: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]  // 1, -2, 0.5 in float16
        let file = try stateDictFile(["0": f32Bytes([1, 2]), "1": half]) {
            // _rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict())
            $0.string("param")
            $0.global("torch._utils", "_rebuild_parameter")
            $0.tensor(key: "0", numel: 2, shape: [2]); $0.bool(true); $0.orderedDict(); $0.tuple3(); $0.reduce()
            // _rebuild_parameter_with_state(tensor, False, OrderedDict(), {})
            $0.string("param_state")
            $0.global("torch._utils", "_rebuild_parameter_with_state")
            $0.mark(); $0.tensor(key: "0", numel: 2, shape: [2]); $0.bool(false); $0.orderedDict(); $0.emptyDict()
            $0.tuple(); $0.reduce()
            // torch.nn.parameter.Parameter(tensor, False) through NEWOBJ
            $0.string("newobj")
            $0.global("torch.nn.parameter", "Parameter")
            $0.tensor(key: "0", numel: 2, shape: [2]); $0.bool(false); $0.tuple2(); $0.newObj()
            // _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (storage, …), {})
            $0.string("subclass")
            $0.global("torch._tensor", "_rebuild_from_type_v2")
            $0.mark()
            $0.global("torch._utils", "_rebuild_tensor_v2")
            $0.global("torch.nn.parameter", "Parameter")
            $0.mark(); $0.storage("FloatStorage", key: "0", numel: 2); $0.int(1); $0.ints([1]); $0.ints([1])
            $0.bool(false); $0.orderedDict(); $0.tuple()
            $0.emptyDict()
            $0.tuple(); $0.reduce()
            // _rebuild_tensor_v3(UntypedStorage of 6 bytes, 0, (3,), (1,), False, OrderedDict(), torch.float16)
            $0.string("v3")
            $0.global("torch._utils", "_rebuild_tensor_v3")
            $0.mark(); $0.storage("UntypedStorage", key: "1", numel: 6); $0.int(0); $0.ints([3]); $0.ints([1])
            $0.bool(false); $0.orderedDict(); $0.global("torch", "float16"); $0.tuple(); $0.reduce()
            // _rebuild_tensor(storage, 1, (1,), (1,)): the oldest form
            $0.string("v1")
            $0.global("torch._utils", "_rebuild_tensor")
            $0.mark(); $0.storage("FloatStorage", key: "0", numel: 2); $0.int(1); $0.ints([1]); $0.ints([1])
            $0.tuple(); $0.reduce()
        }
        XCTAssertEqual(try file.keys(), ["param", "param_state", "newobj", "subclass", "v3", "v1"])
        XCTAssertEqual(try file.tensor("param").toArray(), [1, 2])
        XCTAssertEqual(try file.tensor("param_state").toArray(), [1, 2])
        XCTAssertEqual(try file.tensor("newobj").toArray(), [1, 2])
        XCTAssertEqual(try file.tensor("subclass").toArray(), [2])
        let v3 = try file.tensor("v3")
        XCTAssertEqual(v3.dtype, .float16)
        XCTAssertEqual(v3.float().toArray(), [1, -2, 0.5])
        XCTAssertEqual(try file.info(for: "v3").dtype.name, "float16")
        XCTAssertEqual(try file.tensor("v1").toArray(), [2])
        XCTAssertEqual(file.opaqueGlobals, [])
    }

    // MARK: - Dtypes and byte order

    func testEveryStorageClassLoads() throws {
        let doubles = [1.5, -2.25].flatMap { le64($0.bitPattern) }
        let file = try stateDictFile([
            "d": doubles, "h": [0x00, 0x3C, 0x00, 0xC0], "b": [0x80, 0x3F, 0x00, 0xC0],
            "l": le64(UInt64(bitPattern: -5)) + le64(7), "i": le32(UInt32(bitPattern: -9)),
            "s": le16(UInt16(bitPattern: -3)) + le16(700), "c": [0xFF, 0x05], "u": [0, 255], "o": [1, 0, 1],
            "x": [UInt8](repeating: 0, count: 16)
        ]) {
            $0.string("double"); $0.tensor("DoubleStorage", key: "d", numel: 2, shape: [2])
            $0.string("half"); $0.tensor("HalfStorage", key: "h", numel: 2, shape: [2])
            $0.string("bf16"); $0.tensor("BFloat16Storage", key: "b", numel: 2, shape: [2])
            $0.string("long"); $0.tensor("LongStorage", key: "l", numel: 2, shape: [2])
            $0.string("int"); $0.tensor("IntStorage", key: "i", numel: 1, shape: [1])
            $0.string("short"); $0.tensor("ShortStorage", key: "s", numel: 2, shape: [2])
            $0.string("char"); $0.tensor("CharStorage", key: "c", numel: 2, shape: [2])
            $0.string("byte"); $0.tensor("ByteStorage", key: "u", numel: 2, shape: [2])
            $0.string("bool"); $0.tensor("BoolStorage", key: "o", numel: 3, shape: [3])
            $0.string("complex"); $0.tensor("ComplexFloatStorage", key: "x", numel: 2, shape: [2])
        }
        let double = try file.tensor("double")
        XCTAssertEqual(double.dtype, .float32, "float64 narrows to float32")
        XCTAssertEqual(double.toArray(), [1.5, -2.25])
        XCTAssertEqual(try file.info(for: "double").dtype.safetensors, .F64)
        XCTAssertEqual(try file.tensor("half").float().toArray(), [1, -2])
        XCTAssertEqual(try file.tensor("bf16").float().toArray(), [1, -2])
        let long = try file.tensor("long")
        XCTAssertEqual(long.dtype, .int64)
        XCTAssertTrue(file.holds(long))
        XCTAssertEqual(long.toInt64Array(), [-5, 7])
        XCTAssertEqual(try file.tensor("int").dtype, .int32)
        XCTAssertEqual(rawBytes(try file.tensor("int")), le32(UInt32(bitPattern: -9)))
        let short = try file.tensor("short")
        XCTAssertEqual(short.dtype, .int32, "int16 widens to int32")
        XCTAssertEqual(rawBytes(short), le32(UInt32(bitPattern: -3)) + le32(700))
        XCTAssertEqual(rawBytes(try file.tensor("char")), le32(UInt32(bitPattern: -1)) + le32(5))
        XCTAssertEqual(try file.tensor("byte").dtype, .uint8)
        XCTAssertEqual(rawBytes(try file.tensor("byte")), [0, 255])
        XCTAssertEqual(try file.tensor("bool").dtype, .bool)
        XCTAssertEqual(rawBytes(try file.tensor("bool")), [1, 0, 1])
        XCTAssertEqual(try file.info(for: "complex").dtype.safetensors, .C64)
        XCTAssertNil(try file.info(for: "complex").loadDType)
        XCTAssertEqual(
            expectTorchError { try file.tensor("complex") }?.description.contains("unsupported dtype complex64"),
            true)
        XCTAssertNotNil(expectTorchError { try file.stateDict() }, "one unloadable tensor fails the whole dict")
    }

    func testBigEndianFilesAreSwapped() throws {
        let big = [Float(1), 2, -3].flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian) { Array($0) } }
        let bigDouble = withUnsafeBytes(of: (0.75).bitPattern.bigEndian) { Array($0) }
        let file = try stateDictFile(["0": big, "1": bigDouble], byteOrder: "big") {
            $0.string("w"); $0.tensor(key: "0", numel: 3, shape: [3])
            $0.string("t"); $0.tensor(key: "0", numel: 3, shape: [2], stride: [2])
            $0.string("d"); $0.tensor("DoubleStorage", key: "1", numel: 1, shape: [])
        }
        XCTAssertTrue(file.isBigEndian)
        let w = try file.tensor("w")
        XCTAssertEqual(w.toArray(), [1, 2, -3])
        XCTAssertFalse(file.holds(w), "big-endian data is swapped into a copy")
        XCTAssertEqual(try file.tensor("t").toArray(), [1, -3])
        XCTAssertEqual(try file.tensor("d").toArray(), [0.75])
    }

    // MARK: - Finding the state dict

    func testStateDictLocations() throws {
        func file(_ key: String?) throws -> TorchCheckpointFile {
            var p = PickleWriter()
            if let key {
                p.emptyDict()
                p.mark()
                p.string("epoch"); p.int(3)
                p.string(key)
            }
            p.beginStateDict()
            p.string("w"); p.tensor(key: "0", numel: 3, shape: [3])
            p.endStateDict()
            if key != nil { p.setItems() }
            p.stop()
            return try openTorch(torchArchive(p.bytes, storages: ["0": f32Bytes([1, 2, 3])]))
        }
        for key in [nil, "state_dict", "model", "module"] {
            XCTAssertEqual(try file(key).stateDict()["w"]?.toArray(), [1, 2, 3], "\(key ?? "root")")
        }
        XCTAssertEqual(
            expectTorchError { try file("weights").keys() }?.description.contains(
                "the root dict (keys 'epoch', 'weights') holds non-tensor values"), true)

        // A non-tensor inside the chosen dict is named.
        var p = PickleWriter()
        p.beginStateDict()
        p.string("w"); p.tensor(key: "0", numel: 3, shape: [3])
        p.string("step"); p.int(10)
        p.endStateDict()
        p.stop()
        let mixed = try openTorch(torchArchive(p.bytes, storages: ["0": f32Bytes([1, 2, 3])]))
        XCTAssertEqual(
            expectTorchError { try mixed.keys() },
            .noStateDict(
                path: "test.pth",
                reason: "the root dict (keys 'w', 'step') holds non-tensor "
                    + "values and has no 'state_dict', 'model' or 'module' entry"))
        XCTAssertEqual(
            mixed.root["w"].flatMap { try? mixed.tensor($0).toArray() }, [1, 2, 3],
            "tensors outside a state dict are still reachable")

        var q = PickleWriter()
        q.emptyDict(); q.string("state_dict"); q.emptyDict(); q.string("step"); q.int(10); q.setItem(); q.setItem()
        q.stop()
        XCTAssertEqual(
            expectTorchError { try openTorch(torchArchive(q.bytes)).keys() },
            .notATensor(path: "test.pth", key: "step", found: "10 (in root['state_dict'])"))

        let list = try openTorch(torchArchive([0x80, 0x02, 0x5D, 0x2E]))
        XCTAssertEqual(
            expectTorchError { try list.stateDict() },
            .noStateDict(path: "test.pth", reason: "the pickle's root is list (0 elements), not a dict"))

        // A dict subclass this reader does not know (opaque object with SETITEMS) still yields its items.
        var r = PickleWriter()
        r.global("mmengine.utils", "ManagerDict"); r.emptyTuple(); r.newObj()
        r.mark(); r.string("w"); r.tensor(key: "0", numel: 3, shape: [3]); r.setItems()
        r.stop()
        let subclass = try openTorch(torchArchive(r.bytes, storages: ["0": f32Bytes([1, 2, 3])]))
        XCTAssertEqual(try subclass.tensor("w").toArray(), [1, 2, 3])
        XCTAssertEqual(subclass.root.globalName, "mmengine.utils.ManagerDict")
        XCTAssertEqual(subclass.root.count, 1)
        XCTAssertEqual(subclass.root["w"]?.tensorInfo?.shape, [3])
    }
}
