import ArgumentParser

/// `mgllava bench …`: the benchmarks of MGBench as commands (each subcommand parses its flags, calls MGBench and
/// prints).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each reported as a ratio to a bound measured in the same run (build with -c release).",
        subcommands: [
            BenchAllCommand.self, GemmBenchCommand.self, VisionBenchCommand.self, DecodeBenchCommand.self,
            TrainStepBenchCommand.self, StackStepBenchCommand.self,
            CheckpointOpenBenchCommand.self, DetectorBenchCommand.self, TaggerBenchCommand.self
        ])
}
