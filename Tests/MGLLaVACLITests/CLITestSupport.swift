import Foundation
import XCTest
import MGTestSupport

/// Runs the `mgllava` executable built next to the test bundle and captures its output.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runCLI(_ arguments: [String], input: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
    let directory = Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
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
    stdin.fileHandleForWriting.write(Data((input ?? "").utf8))
    try stdin.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLIResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                     stderr: String(decoding: stderr, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mgllava-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
