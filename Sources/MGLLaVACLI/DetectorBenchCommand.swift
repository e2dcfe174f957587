import ArgumentParser
import MGBench

/// `mgllava bench detector`: `DetectorBench` — OWLv2-B/16 and L/14 at their native sizes against raw sgemm on their
/// own GEMM shapes, a cached 4,585-query vocabulary, and preprocessing.
struct DetectorBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detector",
        abstract: "OWLv2-B/16 at 960 and L/14 at 1008 vs the sgemm rate, with a 4,585-query vocabulary (release build)."
    )

    @Option(help: "Models: b16, l14 (comma-separated).") var models: String = "b16,l14"
    @Option(help: "Timed runs per part (the fastest is kept).") var repeats: Int = 1
    @Option(help: "Queries of the ordinary detection.") var queries: Int = 20
    @Option(help: "Queries of the vocabulary row (RAM's tag list has 4,585).") var vocabulary: Int = 4585
    @Flag(help: "Also print the rows as one JSON line (for `bench all`).") var json = false

    func validate() throws {
        if repeats < 1 || queries < 1 || vocabulary < 1 {
            throw ValidationError("--repeats, --queries and --vocabulary must be at least 1")
        }
        for name in models.split(separator: ",") where DetectorBench.Model(rawValue: String(name)) == nil {
            throw ValidationError("--models: unknown model \"\(name)\" (known: b16, l14)")
        }
    }

    func run() throws {
        let chosen = models.split(separator: ",").compactMap { DetectorBench.Model(rawValue: String($0)) }
        let rows = DetectorBench(models: chosen, repeats: repeats, queries: queries, vocabulary: vocabulary).run {
            print($0)
        }
        print(BenchRows.table(rows))
        if json { BenchRows.emit(rows) }
    }
}
