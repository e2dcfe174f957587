import ArgumentParser
import MGBench

/// `mgllava bench gemm`: `GemmBench` — our matmul / conv2d / attention vs raw cblas_sgemm / sgemv.
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
        print(GemmBench.report(rows))
    }
}
