import ArgumentParser
import MGBench

/// `mgllava bench vision`: `VisionBench` — CLIP ViT-L/14-336, ConvNeXt-L at 768, fusion and box features against
/// raw sgemm on their own GEMM shapes.
struct VisionBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision",
        abstract: "CLIP ViT-L/14-336, ConvNeXt-L at 768, fusion and 100-box features vs the sgemm rate (release build)."
    )

    @Option(help: "Timed runs per part (the fastest is kept).")
    var repeats: Int = 3

    @Option(help: "Boxes for the box-feature row.")
    var boxes: Int = 100

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard repeats >= 1, boxes >= 1 else { throw ValidationError("--repeats and --boxes must be at least 1") }
    }

    func run() throws {
        let result = VisionBench(repeats: repeats, boxes: boxes).run { print($0) }
        print(result.table)
        if json { BenchRows.emit(result.rows) }
        print(result.boundNote)
    }
}
