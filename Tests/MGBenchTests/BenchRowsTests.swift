import Foundation
import MGBench
import XCTest

/// The suite's row formats: the table `mgllava bench all` and `stack-step` print, the marked JSON line a child
/// sends, and `bench gemm`'s report — a couple of rows in, exact text out.
final class BenchRowsTests: XCTestCase {
    let rows = [
        BenchRow(
            name: "CLIP forward", seconds: 0.25, boundSeconds: 0.125, bound: "sgemm on the same shapes",
            peakRSS: 1_610_612_736, detail: "12.5 GFLOP/s"),
        BenchRow(name: "tiny step", seconds: 1.5, peakRSS: 536_870_912)
    ]

    func testTable() {
        XCTAssertEqual(
            BenchRows.table(rows),
            [
                "row                                                       time     bound  ratio   peak RSS  detail",
                "CLIP forward                                          250.0 ms  125.0 ms   0.50   1.50 GiB  bound: sgemm on the same shapes; 12.5 GFLOP/s",
                "tiny step                                               1.50 s         –      –   0.50 GiB  "
            ].joined(separator: "\n"))
    }

    /// The marked line carries the rows' fields (absent optionals left out) and parses back to the same rows; the
    /// last marked line of a child's output wins, other lines are ignored. (Key order is not asserted: the
    /// encoder's is not stable across processes.)
    func testJSONLine() throws {
        let line = try XCTUnwrap(BenchRows.line(rows))
        XCTAssertTrue(line.hasPrefix("mgllava-bench-rows: ["))
        XCTAssertFalse(line.contains("\n"))
        let objects = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(line.dropFirst(BenchRows.marker.count).utf8))
                as? [[String: Any]])
        XCTAssertEqual(objects.count, 2)
        XCTAssertEqual(
            objects[0] as NSDictionary,
            [
                "name": "CLIP forward", "seconds": 0.25, "boundSeconds": 0.125, "bound": "sgemm on the same shapes",
                "peakRSS": 1_610_612_736, "detail": "12.5 GFLOP/s"
            ] as NSDictionary)
        XCTAssertEqual(
            objects[1] as NSDictionary, ["name": "tiny step", "seconds": 1.5, "peakRSS": 536_870_912] as NSDictionary)

        XCTAssertEqual(BenchRows.parse(line), rows)
        let earlier = try XCTUnwrap(BenchRows.line([rows[1]]))
        XCTAssertEqual(BenchRows.parse("building…\n" + earlier + "\nstep 1: 2.00 s\n" + line + "\n"), rows)
        XCTAssertNil(BenchRows.parse("no rows here\n"))
        XCTAssertNil(BenchRows.parse(BenchRows.marker + "[{\"name\": 1}]"))
    }

    func testRatio() {
        XCTAssertEqual(rows[0].ratio, 0.5)
        XCTAssertNil(rows[1].ratio)
    }

    func testGemmReport() {
        let gemm = [
            GemmBench.Row(name: "ViT qkv/o 577×1024→1024", flops: 2e7, ours: 0.02, raw: 0.01, rawName: "sgemm"),
            GemmBench.Row(name: "decode 1×4096→4096", flops: 2.0 * 4096 * 4096, ours: 5e-5, raw: 4e-5, rawName: "sgemv")
        ]
        XCTAssertEqual(
            GemmBench.report(gemm, peakRSS: 104_857_600),
            [
                "shape                                           ours       raw   ours GFLOP/s  ours÷raw  raw",
                "ViT qkv/o 577×1024→1024                      20.00 ms   10.00 ms           1.0     2.000  sgemm",
                "decode 1×4096→4096                            50.0 µs    40.0 µs         671.1     1.250  sgemv",
                "peak RSS 100 MiB"
            ].joined(separator: "\n"))
    }
}
