import ArgumentParser
import Foundation
import MGBench

/// `mgllava bench all`: `BenchSuite` — every part in a child `mgllava bench …` process, the rows in one table.
struct BenchAllCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract:
            "Every benchmark row (vision, decoder layer, tiny and Phi-3 steps, 7B decode, detector, tagger, 7B pretrain memory) in one table."
    )

    @Option(help: "Skip a part (repeatable): \(BenchSuite.parts.map(\.0).joined(separator: ", ")).")
    var skip: [String] = []

    @Option(help: "Also write the rows as JSON to this file.")
    var output: String?

    func validate() throws {
        let known = Set(BenchSuite.parts.map(\.0))
        for s in skip where !known.contains(s) {
            throw ValidationError(
                "--skip \(s): not a part (parts: \(BenchSuite.parts.map(\.0).joined(separator: ", ")))")
        }
    }

    func run() throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let outcome = try BenchSuite.run(executable: executable, skip: skip) { line in
            print(line)
            fflush(stdout)  // progress shows as it comes, also when the output goes to a file
        }
        print("")
        print(BenchRows.table(outcome.rows))
        print(
            String(
                format: "suite: %.0f s; ratio = bound time ÷ our time, both measured in the same child process",
                outcome.seconds))
        if let output {
            try JSONEncoder().encode(outcome.rows).write(to: URL(fileURLWithPath: output), options: .atomic)
        }
        if !outcome.failures.isEmpty {
            throw ValidationError("parts that failed: " + outcome.failures.joined(separator: ", "))
        }
    }
}
