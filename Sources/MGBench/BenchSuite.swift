import Foundation
import MGTensor

/// The whole performance suite of issue 8 (`mgllava bench all`). Each part runs in a child `mgllava bench …`
/// process, so that its peak RSS is its own (a process's peak never goes down) and a part that fails does not take
/// the others with it; the children's rows (`BenchRows`) are gathered into one table.
public enum BenchSuite {
    /// The suite's parts: name (for --skip) and the child's arguments.
    public static let parts: [(String, [String])] = [
        ("vision", ["bench", "vision", "--json"]),
        ("train-step", ["bench", "train-step", "--json"]),
        (
            "phi3-step",
            [
                "bench", "stack-step", "--llm", "phi3-mini", "--layers", "2", "--stage", "sft",
                "--no-checkpointing", "--json"
            ]
        ),
        ("decode", ["bench", "decode", "--json"]),
        ("detector", ["bench", "detector", "--json"]),
        ("tagger", ["bench", "tagger", "--no-pipeline", "--json"]),
        (
            "pretrain-7b",
            [
                "bench", "stack-step", "--llm", "vicuna-7b", "--stage", "pretrain", "--bf16-llm",
                "--text-tokens", "64", "--warmup", "0", "--no-bound", "--json"
            ]
        )
    ]

    /// What a run of the suite gathered.
    public struct Outcome {
        public var rows: [BenchRow] = []
        /// Parts that failed, with their exit status ("decode (exit status 1)").
        public var failures: [String] = []
        /// Wall-clock seconds of the whole suite.
        public var seconds = 0.0
    }

    /// Runs every part not in `skip` as a child of `executable` (the `mgllava` binary), one after the other.
    /// `log` receives the suite's own lines and the children's output as it comes (indented, without their row
    /// lines); it should flush, so progress shows also when the output goes to a file.
    public static func run(executable: URL, skip: [String], log: (String) -> Void) throws -> Outcome {
        var outcome = Outcome()
        let start = BenchTiming.now()
        log(
            "\(Parallel.threadCount) threads; C kernels: \(Parallel.usesAVX2Kernels ? "AVX2 + FMA" : "baseline (no AVX2)")"
        )
        for (name, arguments) in parts where !skip.contains(name) {
            log("── \(name): mgllava \(arguments.joined(separator: " "))")
            let (status, output) = try runChild(executable, arguments, log: log)
            if status == 0, let childRows = BenchRows.parse(output) {
                outcome.rows += childRows
            } else {
                outcome.failures.append("\(name) (exit status \(status))")
            }
        }
        outcome.seconds = BenchTiming.now() - start
        return outcome
    }

    /// Runs a child, passing its output to `log` indented as it comes, and returns its exit status and whole output.
    public static func runChild(
        _ executable: URL, _ arguments: [String], log: (String) -> Void
    ) throws -> (Int32, String) {
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
                    log("   " + line)
                }
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: collected, as: UTF8.self))
    }
}
