import Foundation
import XCTest
@testable import MGCheckpoint

/// Tests/Fixtures/checkpoints, found from this source file so tests run from any working directory.
let checkpointFixtures: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.lastPathComponent != "Tests" && url.path != "/" { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Fixtures/checkpoints")
}()

/// A safetensors file from a header string and data bytes, with the length prefix set to the header's length.
func safetensorsBytes(_ header: String, data: [UInt8] = []) -> [UInt8] {
    safetensorsBytes(Array(header.utf8), data: data)
}

func safetensorsBytes(_ header: [UInt8], data: [UInt8] = []) -> [UInt8] {
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + data
}

/// A fresh empty folder under the system temporary directory, removed when the test ends.
func makeTemporaryFolder(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("mgcheckpoint-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Runs `body` and returns the CheckpointError it throws; fails the test if it succeeds or throws anything else.
@discardableResult
func expectCheckpointError<T>(
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

/// Parses in-memory bytes and returns the error.
@discardableResult
func parseError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> CheckpointError? {
    expectCheckpointError({ try SafeTensorsFile(bytes: bytes, name: "test.safetensors") }, file: file, line: line)
}

/// Tensor contents as raw bytes.
func rawBytes(_ tensor: Tensor) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: tensor.storage.pointer, count: tensor.count * tensor.dtype.size))
}

/// A tensor of any dtype over the given little-endian bytes.
func tensor(_ dtype: DType, _ shape: [Int], bytes: [UInt8]) -> Tensor {
    let storage = Storage(uninitializedCount: bytes.count / dtype.size, dtype: dtype)
    bytes.withUnsafeBytes { source in
        if let base = source.baseAddress { storage.pointer.copyMemory(from: base, byteCount: bytes.count) }
    }
    return Tensor(storage: storage, shape: shape)
}
