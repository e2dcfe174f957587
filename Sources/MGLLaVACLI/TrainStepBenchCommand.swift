import ArgumentParser
import MGBench

/// `mgllava bench train-step`: `TrainStepBench` — a Vicuna-7B-shaped decoder layer forward and forward + backward
/// against raw sgemm on its GEMM shapes, and the tiny stack's training step.
struct TrainStepBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract:
            "A 7B-shaped decoder layer (seq 1024) forward and forward+backward vs sgemm, and a tiny-stack training step."
    )

    @Option(help: "Timed runs per row (the fastest is kept).")
    var repeats: Int = 2

    @Option(help: "Sequence length of the decoder-layer rows.")
    var sequence: Int = 1024

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, sequence >= 16 else { throw ValidationError("--repeats ≥ 1 and --sequence ≥ 16") }
    }

    func run() throws {
        let result = try TrainStepBench(repeats: repeats, sequence: sequence).run { print($0) }
        print(result.report)
        if json { BenchRows.emit(result.rows) }
    }
}
