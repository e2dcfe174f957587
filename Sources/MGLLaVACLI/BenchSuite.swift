import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava bench all`: the whole performance suite of issue 8 in one command. Each part runs in a child
/// `mgllava bench …` process, so that its peak RSS is its own (a process's peak never goes down) and a part that
/// fails does not take the others with it; the children's rows are gathered into one table.
struct BenchAllCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Every benchmark row (vision, decoder layer, tiny and Phi-3 steps, 7B decode, 7B pretrain memory) in one table.")

    /// The suite's parts: name (for --skip) and the child's arguments.
    static let parts: [(String, [String])] = [
        ("vision", ["bench", "vision", "--json"]),
        ("train-step", ["bench", "train-step", "--json"]),
        ("phi3-step", ["bench", "stack-step", "--llm", "phi3-mini", "--layers", "2", "--stage", "sft",
                       "--no-checkpointing", "--json"]),
        ("decode", ["bench", "decode", "--json"]),
        ("pretrain-7b", ["bench", "stack-step", "--llm", "vicuna-7b", "--stage", "pretrain", "--bf16-llm",
                         "--text-tokens", "64", "--warmup", "0", "--no-bound", "--json"]),
    ]

    @Option(help: "Skip a part (repeatable): \(parts.map(\.0).joined(separator: ", ")).")
    var skip: [String] = []

    @Option(help: "Also write the rows as JSON to this file.")
    var output: String?

    func validate() throws {
        let known = Set(Self.parts.map(\.0))
        for s in skip where !known.contains(s) {
            throw ValidationError("--skip \(s): not a part (parts: \(Self.parts.map(\.0).joined(separator: ", ")))")
        }
    }

    func run() throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var rows: [BenchRow] = []
        var failures: [String] = []
        let start = BenchTiming.now()
        print("\(Parallel.threadCount) threads; C kernels: \(Parallel.usesAVX2Kernels ? "AVX2 + FMA" : "baseline (no AVX2)")")
        for (name, arguments) in Self.parts where !skip.contains(name) {
            print("── \(name): mgllava \(arguments.joined(separator: " "))")
            fflush(stdout)
            let (status, output) = try Self.runChild(executable, arguments)
            if status == 0, let childRows = BenchRows.parse(output) {
                rows += childRows
            } else {
                failures.append("\(name) (exit status \(status))")
            }
        }
        print("")
        print(BenchRows.table(rows))
        print(String(format: "suite: %.0f s; ratio = bound time ÷ our time, both measured in the same child process", BenchTiming.now() - start))
        if let output {
            try JSONEncoder().encode(rows).write(to: URL(fileURLWithPath: output), options: .atomic)
        }
        if !failures.isEmpty {
            throw ValidationError("parts that failed: " + failures.joined(separator: ", "))
        }
    }

    /// Runs a child, echoing its output indented as it comes, and returns its exit status and whole output.
    static func runChild(_ executable: URL, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        var collected = Data()
        var pending = Data()
        let handle = pipe.fileHandleForReading
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            collected.append(chunk)
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                if !line.hasPrefix(BenchRows.marker) {
                    print("   " + line)
                    fflush(stdout)  // progress shows as it comes, also when the output goes to a file
                }
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: collected, as: UTF8.self))
    }
}
