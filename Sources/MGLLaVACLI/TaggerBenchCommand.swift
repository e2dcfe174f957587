import ArgumentParser
import MGBench

/// `mgllava bench tagger`: `TaggerBench` — RAM++ (Swin-L at 384, 4,585 tags) against raw sgemm on its own GEMM
/// shapes, and upstream's box step per image (RAM++ then OWLv2-L/14) against OWLv2 alone.
struct TaggerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tagger",
        abstract: "RAM++ Swin-L at 384 vs the sgemm rate, and RAM++ → OWLv2-L per image (release build).")

    @Option(help: "Timed runs per part (the fastest is kept).") var repeats: Int = 1
    @Option(help: "Tags OWLv2 looks for in the pipeline row.") var queries: Int = 20
    @Flag(help: "Skip the RAM++ → OWLv2-L pipeline row.") var noPipeline = false
    @Flag(help: "Also print the rows as one JSON line (for `bench all`).") var json = false

    func validate() throws {
        if repeats < 1 || queries < 1 { throw ValidationError("--repeats and --queries must be at least 1") }
    }

    func run() throws {
        let rows = TaggerBench(repeats: repeats, queries: queries, pipeline: !noPipeline).run { print($0) }
        print(BenchRows.table(rows))
        if json { BenchRows.emit(rows) }
    }
}
