import Foundation
import XCTest
@testable import MGCheckpoint

/// The restricted unpickler: every protocol CPython writes, the opcodes only hand-written pickles use, and one test
/// per defence.
final class TorchPickleTests: XCTestCase {
    /// Wraps a pickle (no storages) in a torch archive and opens it.
    func open(_ pickle: [UInt8]) throws -> TorchCheckpointFile {
        try openTorch(torchArchive(pickle))
    }

    /// The error from a pickle; its message must contain each fragment.
    @discardableResult
    func pickleError(
        _ pickle: [UInt8], _ fragments: String..., file: StaticString = #filePath, line: UInt = #line
    )
        -> CheckpointError?
    {
        let error = expectTorchError({ try self.open(pickle) }, file: file, line: line)
        for fragment in fragments where !(error?.description.contains(fragment) ?? false) {
            XCTFail("message lacks '\(fragment)': \(error?.description ?? "nil")", file: file, line: line)
        }
        return error
    }

    // MARK: - CPython's pickler, protocols 0–5

    /// `pickle-protocol-N.pkl` hold the same dict pickled by CPython 3.11 with protocol N (see
    /// Tests/Fixtures/README.md): text opcodes (0), binary ones (1), PROTO/NEWOBJ/LONG1/TUPLEn (2), bytes (3),
    /// FRAME/MEMOIZE/STACK_GLOBAL/sets (4), BYTEARRAY8 (5). Each must read back to the same values.
    /// They were written with:
    ///
    ///     import pickle, collections, sys, types
    ///     class Point:
    ///         def __init__(self): self.x = 1; self.label = 'p'
    ///     Point.__module__ = 'fixture.geometry'
    ///     sys.modules['fixture'] = types.ModuleType('fixture')
    ///     sys.modules['fixture.geometry'] = types.ModuleType('fixture.geometry')
    ///     sys.modules['fixture.geometry'].Point = Point
    ///     shared = ['s']
    ///     obj = {'none': None, 't': True, 'f': False, 'small': 7, 'neg': -300, 'big': 2**40, 'huge': 2**100,
    ///            'neghuge': -(2**70), 'float': 1.5, 'text': 'h\u00e9llo\nworld \u20ac', 'bytes': b'\x00\xffab',
    ///            'tuple': (1, 'a', (2, 3)), 'list': [1, [2, [3]]], 'set': {1, 2}, 'frozen': frozenset({'x'}),
    ///            'ordered': collections.OrderedDict([('b', 2), ('a', 1)]), 'shared': shared, 'shared2': shared,
    ///            'empty_tuple': (), 'bytearray': bytearray(b'xy'), 'range': list(range(300)), 'point': Point(),
    ///            'longtext': '\u00e4' * 300}
    ///     for p in range(6):
    ///         open(f'pickle-protocol-{p}.pkl', 'wb').write(pickle.dumps(obj, protocol=p))
    func testEveryPickleProtocolCPythonWrites() throws {
        for version in 0...5 {
            let data = try Data(contentsOf: pthFixtures.appendingPathComponent("pickle-protocol-\(version).pkl"))
            let file = try open(Array(data))
            let root = file.root
            let context = "protocol \(version)"
            XCTAssertEqual(
                root.entries?.map { $0.key.string ?? "?" },
                [
                    "none", "t", "f", "small", "neg", "big", "huge", "neghuge", "float", "text", "bytes",
                    "tuple", "list", "set", "frozen", "ordered", "shared", "shared2", "empty_tuple",
                    "bytearray", "range", "point", "longtext"
                ], context)
            XCTAssertEqual(root["none"]?.kind, PickleValueKind.none, context)
            XCTAssertEqual(root["t"]?.bool, true, context)
            XCTAssertEqual(root["f"]?.bool, false, context)
            XCTAssertEqual(root["small"]?.int, 7, context)
            XCTAssertEqual(root["neg"]?.int, -300, context)
            XCTAssertEqual(root["big"]?.int, 1 << 40, context)
            XCTAssertEqual(root["huge"]?.kind, .bigInt, context)
            XCTAssertTrue(
                ["0x10000000000000000000000000", "1267650600228229401496703205376"]
                    .contains(root["huge"]?.description ?? ""), context)
            XCTAssertTrue(
                ["-0x400000000000000000", "-1180591620717411303424"]
                    .contains(root["neghuge"]?.description ?? ""), context)
            XCTAssertEqual(root["float"]?.double, 1.5, context)
            XCTAssertEqual(root["text"]?.string, "h\u{e9}llo\nworld \u{20ac}", context)
            XCTAssertEqual(root["bytes"]?.bytes, [0x00, 0xFF, 0x61, 0x62], context)
            let tuple = try XCTUnwrap(root["tuple"]?.elements, context)
            XCTAssertEqual(tuple.map(\.kind), [.int, .string, .tuple], context)
            XCTAssertEqual(tuple[2].elements?.compactMap(\.int), [2, 3], context)
            XCTAssertEqual(root["list"]?.elements?[1].elements?[1].elements?.first?.int, 3, context)
            XCTAssertEqual(root["set"]?.kind, .set, context)
            XCTAssertEqual(Set(root["set"]?.elements?.compactMap(\.int) ?? []), [1, 2], context)
            XCTAssertEqual(root["frozen"]?.kind, .frozenset, context)
            XCTAssertEqual(root["frozen"]?.elements?.first?.string, "x", context)
            XCTAssertTrue(root["ordered"]?.isOrderedDict ?? false, context)
            XCTAssertEqual(root["ordered"]?.entries?.map { $0.key.string ?? "?" }, ["b", "a"], context)
            // The memo makes both keys the same list, as in Python.
            XCTAssertEqual(root["shared"]?.index, root["shared2"]?.index, context)
            XCTAssertEqual(root["empty_tuple"]?.count, 0, context)
            XCTAssertEqual(root["bytearray"]?.bytes, Array("xy".utf8), context)
            XCTAssertEqual(root["range"]?.elements?.compactMap(\.int), (0..<300).map(Int64.init), context)
            XCTAssertEqual(root["longtext"]?.string, String(repeating: "\u{e4}", count: 300), context)
            // A user class: kept as an opaque call with its state, never constructed.
            let point = try XCTUnwrap(root["point"], context)
            XCTAssertEqual(point.kind, .object, context)
            let state = try XCTUnwrap(point.call?.state, context)
            XCTAssertEqual(state["x"]?.int, 1, context)
            XCTAssertEqual(state["label"]?.string, "p", context)
            XCTAssertTrue(file.opaqueGlobals.contains("fixture.geometry.Point"), "\(context): \(file.opaqueGlobals)")
            XCTAssertEqual(
                expectTorchError { try file.stateDict() }.map { "\($0)".contains("holds non-tensor values") },
                true, context)
        }
    }

    /// Opcodes CPython 3 no longer writes but a pickle may contain: Python 2 strings, POP/POP_MARK/DUP, INST/OBJ,
    /// NEWOBJ_EX, the 8-byte and 4-byte length forms.
    func testOpcodesOnlyHandWrittenPicklesUse() throws {
        var p = PickleWriter(protocol: 4)
        p.mark()
        p.op(0x55, [3] + Array("abc".utf8))  // SHORT_BINSTRING 'abc'
        p.op(0x54, le32(2) + [0xFF, 0x00])  // BINSTRING b'\xff\x00' (not UTF-8 → bytes)
        p.op(0x53, Array("'a\\x41\\n\\101'\n".utf8))  // STRING 'aA\nA'
        p.op(0x8D, le64(2) + Array("hi".utf8))  // BINUNICODE8
        p.op(0x42, le32(1) + [9])  // BINBYTES
        p.op(0x8E, le64(0))  // BINBYTES8 (empty)
        p.op(0x8B, le32(9) + [0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF])  // LONG4: -2^63 in 9 bytes
        p.op(0x8B, le32(0))  // LONG4 of no bytes: 0
        p.op(0x46, Array("-2.5\n".utf8))  // FLOAT text
        p.op(0x49, Array("123456789012345678901234567890\n".utf8))  // INT text beyond Int64
        p.op(0x4C, Array("-42L\n".utf8))  // LONG text
        p.op(0x56, Array("a\\u00e9\\U0001F600\n".utf8))  // UNICODE text with escapes
        p.none()
        p.pop()  // POP drops the None
        p.mark()
        p.none()
        p.none()
        p.op(0x31)  // POP_MARK drops both and the mark
        p.int(5)
        p.dup()  // DUP
        p.mark()
        p.int(1)
        p.op(0x69, Array("fixture.geometry\nPoint\n".utf8))  // INST: Point(1)
        p.mark()
        p.global("fixture.geometry", "Point")
        p.int(2)
        p.op(0x6F)  // OBJ: Point(2)
        p.global("fixture.geometry", "Point")
        p.emptyTuple()
        p.emptyDict()
        p.op(0x92)  // NEWOBJ_EX: Point(*(), **{})
        p.op(0x8C, [6] + Array("module".utf8))  // SHORT_BINUNICODE
        p.op(0x8C, [4] + Array("name".utf8))
        p.op(0x93)  // STACK_GLOBAL
        p.op(0x94)  // MEMOIZE (slot 0)
        p.op(0x6A, le32(0))  // LONG_BINGET 0
        p.op(0x70, Array("7\n".utf8))  // PUT 7 (text)
        p.op(0x67, Array("7\n".utf8))  // GET 7 (text)
        p.op(0x72, le32(70000))  // LONG_BINPUT
        p.list()
        p.stop()
        let root = try open(p.bytes).root
        let items = try XCTUnwrap(root.elements)
        XCTAssertEqual(items.count, 20)
        XCTAssertEqual(items[0].string, "abc")
        XCTAssertEqual(items[1].bytes, [0xFF, 0x00])
        XCTAssertEqual(items[2].string, "aA\nA")
        XCTAssertEqual(items[3].string, "hi")
        XCTAssertEqual(items[4].bytes, [9])
        XCTAssertEqual(items[5].bytes, [])
        XCTAssertEqual(items[6].int, Int64.min)
        XCTAssertEqual(items[7].int, 0)
        XCTAssertEqual(items[8].double, -2.5)
        XCTAssertEqual(items[9].description, "123456789012345678901234567890")
        XCTAssertEqual(items[10].int, -42)
        XCTAssertEqual(items[11].string, "a\u{e9}\u{1F600}")
        XCTAssertEqual(items[12].int, 5)
        XCTAssertEqual(items[13].int, 5)
        XCTAssertEqual(items[14].globalName, "fixture.geometry.Point")
        XCTAssertEqual(items[14].call?.args.elements?.first?.int, 1)
        XCTAssertEqual(items[15].call?.args.elements?.first?.int, 2)
        XCTAssertEqual(items[16].kind, .object)
        XCTAssertEqual(items[17].globalName, "module.name")
        XCTAssertEqual(items[18].index, items[17].index)
        XCTAssertEqual(items[19].index, items[17].index)
    }

    // MARK: - Structural defences

    func testUnknownOpcode() {
        var p = PickleWriter()
        p.raw([0xFF])
        p.stop()
        let error = pickleError(p.bytes, "archive/data.pkl at byte 2: unknown opcode 0xff")
        XCTAssertEqual(
            error,
            .invalidPickle(
                path: "test.pth", entry: "archive/data.pkl", offset: 2,
                reason: "unknown opcode 0xff"))
        pickleError([0x80, 0x02, 0x21, 0x2E], "unknown opcode 0x21 ('!')")
    }

    func testPickleWithoutStop() {
        var p = PickleWriter()
        p.emptyDict()
        pickleError(p.bytes, "at byte 3", "without a STOP opcode")
        pickleError([], "at byte 0", "without a STOP opcode")
    }

    func testLengthsBeyondTheData() {
        pickleError(
            [0x80, 0x02, 0x58] + le32(1000) + Array("abc".utf8) + [0x2E],
            "BINUNICODE needs 1000 more bytes but only 4 remain")
        // 8-byte lengths far beyond memory: refused before any allocation.
        pickleError([0x80, 0x04, 0x8D] + le64(1 << 62) + [0x2E], "BINUNICODE8 needs 4611686018427387904 more bytes")
        pickleError([0x80, 0x04, 0x8E] + le64(UInt64.max) + [0x2E], "BINBYTES8 needs")
        pickleError([0x80, 0x05, 0x96] + le64(UInt64.max) + [0x2E], "BYTEARRAY8 needs")
        pickleError([0x80, 0x04, 0x95] + le64(1 << 60) + [0x4E, 0x2E], "FRAME of 1152921504606846976 bytes")
        pickleError([0x80, 0x02, 0x8B] + le32(UInt32(bitPattern: -5)) + [0x2E], "LONG4 has negative length -5")
        pickleError([0x80, 0x02, 0x54] + le32(UInt32(bitPattern: -1)) + [0x2E], "BINSTRING has negative length -1")
        pickleError([0x80, 0x02, 0x4A, 0x01], "BININT needs 4 more bytes but only 1 remain")
        pickleError([0x80, 0x02, 0x63] + Array("os\nsys".utf8), "GLOBAL argument has no terminating newline")
        pickleError([0x80, 0x02, 0x58] + le32(2) + [0xC3, 0x28, 0x2E], "BINUNICODE string is not valid UTF-8")
        pickleError([0x80, 0x06, 0x2E], "unsupported pickle protocol 6")
    }

    func testStackUnderflow() {
        pickleError([0x80, 0x02, 0x52, 0x2E], "at byte 2", "stack underflow: REDUCE")
        pickleError([0x80, 0x02, 0x2E], "stack underflow: STOP")
        pickleError([0x80, 0x02, 0x4E, 0x73, 0x2E], "stack underflow: SETITEM")
        pickleError([0x80, 0x02, 0x4E, 0x86, 0x2E], "stack underflow: TUPLE2")
    }

    func testMarkMisuse() {
        pickleError([0x80, 0x02, 0x4E, 0x74, 0x2E], "TUPLE without a preceding MARK")
        pickleError([0x80, 0x02, 0x7D, 0x4E, 0x75, 0x2E], "SETITEMS without a preceding MARK")
        // APPEND may not reach below the last MARK: the list is outside the marked frame.
        pickleError([0x80, 0x02, 0x5D, 0x28, 0x4E, 0x61, 0x2E], "stack underflow: APPEND reaches below the last MARK")
        pickleError([0x80, 0x02, 0x28, 0x4E, 0x2E], "STOP with 1 MARK(s) never closed")
        pickleError([0x80, 0x02, 0x4E, 0x4E, 0x2E], "STOP leaves 1 value(s) on the stack")
        pickleError([0x80, 0x02, 0x28, 0x4E, 0x64, 0x2E], "DICT needs key/value pairs but has 1 values")
        pickleError([0x80, 0x02, 0x4E, 0x4E, 0x61, 0x2E], "APPEND to a none")
        pickleError([0x80, 0x02, 0x5D, 0x4E, 0x4E, 0x73, 0x2E], "SETITEM on a list, not a dict")
    }

    func testMemoReferenceNeverStored() {
        pickleError([0x80, 0x02, 0x68, 0x05, 0x2E], "at byte 2: BINGET of memo slot 5, which was never stored")
        pickleError([0x80, 0x02, 0x6A] + le32(70000) + [0x2E], "LONG_BINGET of memo slot 70000")
        pickleError([0x80, 0x02, 0x71, 0x00, 0x2E], "stack underflow: BINPUT")
    }

    func testUnsupportedOpcodes() {
        pickleError([0x80, 0x02, 0x82, 0x01, 0x2E], "EXT1: the copyreg extension registry is not supported")
        pickleError([0x80, 0x02, 0x84] + le32(1) + [0x2E], "EXT4")
        pickleError([0x80, 0x05, 0x97, 0x2E], "NEXT_BUFFER: out-of-band buffers")
        pickleError([0x80, 0x02] + Array("Pstorage\n".utf8) + [0x2E], "PERSID")
    }

    // MARK: - Depth

    /// A million nested tuples (TUPLE1 applied a million times) is an error at the nesting cap, quickly.
    func testDeepNestingIsCapped() {
        var p = PickleWriter()
        p.none()
        p.raw([UInt8](repeating: 0x85, count: 1_000_000))
        p.stop()
        pickleError(p.bytes, "values nest deeper than 1000 levels")
        // Lists nested by APPEND, innermost first: also capped.
        var q = PickleWriter()
        q.raw([UInt8](repeating: 0x5D, count: 5000))
        q.raw([UInt8](repeating: 0x61, count: 4999))
        q.stop()
        pickleError(q.bytes, "values nest deeper than 1000 levels")
        // A million MARKs: an error (never closed), not a crash.
        var r = PickleWriter()
        r.raw([UInt8](repeating: 0x28, count: 1_000_000))
        r.none()
        r.stop()
        pickleError(r.bytes, "1000000 MARK(s) never closed")
    }

    /// Nesting built outer-first through the memo escapes the cap's bookkeeping, so a million levels really
    /// are built. Reading and freeing them must still not recurse.
    func testMillionLevelNestingThroughTheMemoIsAValue() throws {
        let levels = 1_000_000
        var p = PickleWriter()
        p.emptyList()
        p.put(1)  // memo 1: the outermost list, the result
        // Per level, with the current list C on the stack: EMPTY_LIST → [C, D]; BINPUT 0 (memo 0 = D);
        // APPEND (C.append(D)) → [C]; POP → []; BINGET 0 → [D].
        let level: [UInt8] = [0x5D, 0x71, 0x00, 0x61, 0x30, 0x68, 0x00]
        var body: [UInt8] = []
        body.reserveCapacity(level.count * levels)
        for _ in 1..<levels { body.append(contentsOf: level) }
        p.raw(body)
        p.pop()
        p.get(1)
        p.stop()
        var depth = 0
        do {
            let file = try open(p.bytes)
            var value = file.root
            while let child = value.elements?.first {
                depth += 1
                value = child
            }
        }  // the file, its arena and a million nested lists are released here, without recursion
        XCTAssertEqual(depth, levels - 1)
    }

    /// The memo lets a pickle hand one large value to many calls for a few bytes each. Calls evaluated as data
    /// (torch.Size, OrderedDict, _codecs.encode, getattr, …) would then do quadratic work; a budget linear in the
    /// pickle's size turns that into an error, quickly.
    func testMemoAmplificationIsBounded() throws {
        // A 20,000-element tuple, then torch.Size(tuple) 20,000 times: 4e8 element copies without the budget.
        var p = PickleWriter()
        p.global("torch", "Size")
        p.put(0)
        p.pop()
        p.mark()
        p.raw([UInt8](repeating: 0x4E, count: 20_000))  // NONE × 20,000 (ints are not required to copy)
        p.tuple()
        p.tuple1()
        p.put(1)
        p.pop()
        p.mark()
        for _ in 0..<20_000 { p.raw([0x68, 0x00, 0x68, 0x01, 0x52]) }  // BINGET 0, BINGET 1, REDUCE
        p.list()
        p.stop()
        // The copy budget is an element count, so the refusal is the complexity check (no wall clock).
        pickleError(p.bytes, "copy more than", "reusing large values through the memo")

        // getattr chains whose names grow at every step: quadratic memory without the budget.
        var q = PickleWriter()
        q.global("builtins", "getattr")
        q.put(0)
        q.string(String(repeating: "x", count: 1000))
        q.put(1)
        q.global("fixture", "Start")
        q.put(2)
        for _ in 0..<5_000 {
            // getattr(memo[2], memo[1]) → memo[2]
            q.raw([0x68, 0x00, 0x68, 0x02, 0x68, 0x01, 0x86, 0x52, 0x71, 0x02, 0x30])
        }
        q.raw([0x30, 0x30])  // drop the three values left from the setup, keeping one as the result
        q.stop()
        pickleError(q.bytes, "copy more than")

        // The same storage id referenced 50,000 times is resolved once.
        var r = PickleWriter()
        r.beginStateDict()
        r.string("w")
        r.tensor(key: "0", numel: 3, shape: [3])
        r.endStateDict()
        r.mark()
        r.string("storage"); r.global("torch", "FloatStorage"); r.string("0"); r.string("cpu"); r.int(3)
        r.tuple()
        r.put(9)
        r.pop()
        r.mark()
        for _ in 0..<50_000 { r.raw([0x68, 0x09, 0x51]) }  // BINGET 9, BINPERSID
        r.list()
        r.pop()
        r.stop()
        let file = try openTorch(torchArchive(r.bytes, storages: ["0": f32Bytes([1, 2, 3])]))
        XCTAssertEqual(try file.tensor("w").toArray(), [1, 2, 3])
    }

    func testSelfReferencingListIsACycle() throws {
        // l = []; l.append(l)
        let root = try open([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]).root
        XCTAssertEqual(root.elements?.first?.index, root.index)
        XCTAssertEqual(root.description, "list (1 elements)")
    }
}
