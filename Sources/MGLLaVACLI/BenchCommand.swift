import ArgumentParser
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each reported as a ratio to a bound measured in the same run (build with -c release).",
        subcommands: [BenchAllCommand.self, GemmBenchCommand.self, VisionBenchCommand.self, DecodeBenchCommand.self, TrainStepBenchCommand.self, StackStepBenchCommand.self,
                      CheckpointOpenBenchCommand.self])
}

struct GemmBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Our matmul / conv2d / attention on MG-LLaVA's shapes vs raw cblas_sgemm / cblas_sgemv.")

    @Option(help: "Timed rounds per shape (the fastest is kept).")
    var repeats: Int = 10

    @Flag(help: "One shape per kind, for a smoke test.")
    var quick = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }

    func run() throws {
        let rows = GemmBench(repeats: repeats, quick: quick).run()
        GemmBench.print(rows)
    }
}
