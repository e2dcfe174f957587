import Foundation
import XCTest
@testable import MGCheckpoint
import MGTestSupport

/// Files that would run code under `torch.load` are refused, naming the call, and nothing runs.
///
/// The evidence that nothing runs: every payload here would create a marker file if it were executed (a shell
/// `touch`, Python's `open(…, 'w')`), and the marker never appears. The evidence that the refusal comes before any
/// tensor is built: the reported byte offset lies before the pickle's first storage reference (BINPERSID), and
/// `init` throws, so no file object, and no tensor, exists.
final class TorchCodeExecutionTests: XCTestCase {
    var marker = ""

    override func setUpWithError() throws {
        marker = try makeTemporaryFolder(self).appendingPathComponent("EXECUTED").path
    }

    /// `{'x': <payload>, 'state_dict': {'w': tensor}}`; returns the bytes and the offset of the first BINPERSID.
    func checkpoint(
        payloadFirst: Bool = true, protocol version: UInt8 = 2,
        _ payload: (inout PickleWriter) -> Void
    ) -> (bytes: [UInt8], firstStorage: Int) {
        var p = PickleWriter(protocol: version)
        p.emptyDict()
        p.mark()
        var firstStorage = 0
        func tensorEntry() {
            p.string("state_dict")
            p.beginStateDict()
            p.string("w")
            firstStorage = p.bytes.count
            p.tensor(key: "0", numel: 3, shape: [3])
            p.endStateDict()
        }
        if !payloadFirst { tensorEntry() }
        p.string("x")
        payload(&p)
        if payloadFirst { tensorEntry() }
        p.setItems()
        p.stop()
        // The BINPERSID opcode follows the persistent-id tuple; its offset is past `firstStorage`.
        return (torchArchive(p.bytes, storages: ["0": f32Bytes([1, 2, 3])]), firstStorage)
    }

    func assertRefused(
        _ name: String, callee: String, contains fragment: String, payloadFirst: Bool = true,
        protocol version: UInt8 = 2, file: StaticString = #filePath, line: UInt = #line,
        _ payload: (inout PickleWriter) -> Void
    ) {
        let (bytes, firstStorage) = checkpoint(payloadFirst: payloadFirst, protocol: version, payload)
        let error = expectTorchError({ try openTorch(bytes, name: name) }, file: file, line: line)
        guard case let .codeExecution(path, entry, offset, refused, call)? = error else {
            return XCTFail("\(name): expected a refusal, got \(String(describing: error))", file: file, line: line)
        }
        XCTAssertEqual(path, name, file: file, line: line)
        XCTAssertEqual(entry, "archive/data.pkl", file: file, line: line)
        XCTAssertEqual(refused, callee, "\(name)", file: file, line: line)
        XCTAssertTrue(call.contains(fragment), "\(name): \(call)", file: file, line: line)
        XCTAssertTrue(
            error?.description.contains("refusing a file that would run code under torch.load") ?? false,
            file: file, line: line)
        if payloadFirst {
            XCTAssertLessThan(offset, firstStorage, "\(name): refused before the first storage", file: file, line: line)
        }
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: marker), "\(name) ran its payload", file: file,
            line: line)
    }

    func testShellCommandsAreRefused() {
        let command = "touch \"\(marker)\""
        assertRefused("os.system.pth", callee: "os.system", contains: "os.system('touch") {
            $0.global("os", "system"); $0.string(command); $0.tuple1(); $0.reduce()
        }
        assertRefused("posix.system.pth", callee: "posix.system", contains: command) {
            $0.global("posix", "system"); $0.string(command); $0.tuple1(); $0.reduce()
        }
        assertRefused("nt.system.pth", callee: "nt.system", contains: command) {
            $0.global("nt", "system"); $0.string(command); $0.tuple1(); $0.reduce()
        }
        // subprocess.Popen(['sh', '-c', command]) through NEWOBJ.
        assertRefused("popen.pth", callee: "subprocess.Popen", contains: "['sh', '-c', 'touch") {
            $0.global("subprocess", "Popen")
            $0.mark(); $0.string("sh"); $0.string("-c"); $0.string(command); $0.list()
            $0.tuple1()
            $0.newObj()
        }
        assertRefused("check_output.pth", callee: "subprocess.check_output", contains: command) {
            $0.global("subprocess", "check_output"); $0.string(command); $0.tuple1(); $0.reduce()
        }
        // Python 2 module names are mapped first: commands.getoutput is subprocess.getoutput.
        assertRefused("commands.pth", callee: "subprocess.getoutput", contains: command) {
            $0.global("commands", "getoutput"); $0.string(command); $0.tuple1(); $0.reduce()
        }
        // The same call spelled with STACK_GLOBAL (protocol 4), INST and OBJ.
        assertRefused("stack_global.pth", callee: "os.system", contains: command, protocol: 4) {
            $0.op(0x8C, [2] + Array("os".utf8)); $0.op(0x8C, [6] + Array("system".utf8)); $0.op(0x93)
            $0.string(command); $0.tuple1(); $0.reduce()
        }
        assertRefused("inst.pth", callee: "os.system", contains: command) {
            $0.mark(); $0.string(command); $0.op(0x69, Array("os\nsystem\n".utf8))
        }
        assertRefused("obj.pth", callee: "os.system", contains: command) {
            $0.mark(); $0.global("os", "system"); $0.string(command); $0.op(0x6F)
        }
    }

    func testPythonCodeIsRefused() {
        let code = "open('\(marker)', 'w').write('x')"
        assertRefused("exec.pth", callee: "builtins.exec", contains: "builtins.exec('open(") {
            $0.global("builtins", "exec"); $0.string(code); $0.tuple1(); $0.reduce()
        }
        assertRefused("eval.pth", callee: "builtins.eval", contains: "open(") {
            $0.global("__builtin__", "eval"); $0.string(code); $0.tuple1(); $0.reduce()
        }
        assertRefused("open.pth", callee: "builtins.open", contains: marker) {
            $0.global("builtins", "open"); $0.string(marker); $0.string("w"); $0.tuple2(); $0.reduce()
        }
        assertRefused("import.pth", callee: "builtins.__import__", contains: "'os'") {
            $0.global("builtins", "__import__"); $0.string("os"); $0.tuple1(); $0.reduce()
        }
        assertRefused("runpy.pth", callee: "runpy._run_code", contains: "open(") {
            $0.global("runpy", "_run_code"); $0.string(code); $0.emptyDict(); $0.tuple2(); $0.reduce()
        }
        assertRefused("torch_load.pth", callee: "torch.load", contains: "'other.pth'") {
            $0.global("torch", "load"); $0.string("other.pth"); $0.tuple1(); $0.reduce()
        }
    }

    /// Indirect routes: a code-running global handed to another callable, reached through getattr, or patched
    /// into a module with BUILD.
    func testIndirectRoutesAreRefused() {
        let command = "touch \"\(marker)\""
        // functools.partial(os.system, command): refused when partial is called with os.system.
        assertRefused("partial.pth", callee: "os.system", contains: "functools.partial(os.system, …)") {
            $0.global("functools", "partial"); $0.global("os", "system"); $0.string(command); $0.tuple2(); $0.reduce()
        }
        // getattr(numpy.os, 'system')(command): the dotted global numpy.os.system is refused when called.
        assertRefused("getattr_chain.pth", callee: "numpy.os.system", contains: command) {
            $0.global("builtins", "getattr"); $0.global("numpy", "os"); $0.string("system"); $0.tuple2(); $0.reduce()
            $0.string(command); $0.tuple1(); $0.reduce()
        }
        // getattr(…, '__globals__') reaches interpreter internals: refused at once.
        assertRefused("dunder.pth", callee: "builtins.getattr", contains: "'__globals__'") {
            $0.global("builtins", "getattr"); $0.global("json", "dumps"); $0.string("__globals__"); $0.tuple2()
            $0.reduce()
        }
        // BUILD on a global would set attributes of a module or class.
        assertRefused("build_global.pth", callee: "json.decoder", contains: "setattr(json.decoder, …) via BUILD") {
            $0.global("json", "decoder"); $0.emptyDict(); $0.string("scanstring"); $0.none(); $0.setItem(); $0.build()
        }
    }

    /// A refusal anywhere fails the whole file, even after the state dict: no partial result is returned.
    func testPayloadAfterTheTensorsStillFailsTheFile() {
        assertRefused("late.pth", callee: "os.system", contains: "touch", payloadFirst: false) {
            $0.global("os", "system"); $0.string("touch \"\(marker)\""); $0.tuple1(); $0.reduce()
        }
    }

    /// Merely naming a global is not running it: an unknown global that is never called, or whose call is
    /// opaque, keeps the file readable.
    func testReferencesWithoutCallsAndOpaqueCallsAreData() throws {
        let (bytes, _) = checkpoint {
            $0.mark()
            $0.global("os", "system")  // referenced, never called
            $0.global("mmengine.config", "ConfigDict"); $0.emptyTuple(); $0.newObj()
            $0.global("numpy", "dtype"); $0.string("f4"); $0.tuple1(); $0.reduce()
            $0.list()
        }
        let file = try openTorch(bytes)
        XCTAssertEqual(try file.tensor("w").toArray(), [1, 2, 3])
        XCTAssertEqual(file.root["x"]?.elements?.map(\.kind), [.global, .object, .object])
        XCTAssertEqual(file.opaqueGlobals, ["mmengine.config.ConfigDict", "numpy.dtype"])
    }

    /// The fixture's second payload (builtins.eval) is caught as well: with `os system` renamed to a harmless
    /// global, the refusal moves to the eval call at byte 369, after the tensor was rebuilt at 281.
    func testMaliciousFixtureEvalPayload() throws {
        var bytes = Array(try Data(contentsOf: Fixtures.url("models/mgllava-tiny/malicious.pth")))
        let needle = Array("os\nsystem\n".utf8)
        let at = try XCTUnwrap(
            (0...(bytes.count - needle.count)).first {
                Array(bytes[$0..<($0 + needle.count)]) == needle
            })
        patch(&bytes, at: at, Array("xx\nsystem\n".utf8))
        let error = expectTorchError { try openTorch(bytes, name: "malicious.pth") }
        guard case let .codeExecution(_, _, offset, callee, call)? = error else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(callee, "builtins.eval")
        XCTAssertEqual(offset, 369)
        XCTAssertEqual(call, "builtins.eval('__import__(\\'os\\').system(\\'echo MALICIOUS_EVAL\\')')")
    }
}
