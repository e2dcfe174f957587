import Foundation
import XCTest
import MGTestSupport

/// Runs the `mgllava` executable built next to the test bundle and captures its output.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCLI(
    _ arguments: [String], input: String? = nil, file: StaticString = #filePath, line: UInt = #line
) throws -> CLIResult {
    let directory =
        Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
        ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
    let executable = directory.appendingPathComponent("mgllava")
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
        try skipUnlessCI("mgllava is not built at \(executable.path)")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let stdin = Pipe()
    process.standardInput = stdin
    try process.run()
    // A hung command is killed after 300 s (its pipes then close) and fails the test instead of the suite.
    let timedOut = TimeoutFlag()
    let pid = process.processIdentifier
    DispatchQueue.global().asyncAfter(deadline: .now() + 300) {
        if process.isRunning { timedOut.set(); kill(pid, SIGKILL) }
    }
    stdin.fileHandleForWriting.write(Data((input ?? "").utf8))
    try stdin.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if timedOut.isSet {
        XCTFail("mgllava \(arguments.joined(separator: " ")) did not exit within 300 s", file: file, line: line)
    }
    return CLIResult(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Set from the watchdog queue, read on the test's thread.
final class TimeoutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
