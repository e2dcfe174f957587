import Foundation
import MGData
import MGEval
import XCTest

/// A detector whose boxes follow from the image (its size and first pixel), so expected records can be computed
/// from the images the tests write. Images are told apart by width: each test image has its own.
private final class FakeDetector: BoxDetector {
    /// Widths of the images seen, in call order.
    var calls: [Int] = []
    /// Throws for images of this width.
    var failingWidth: Int?
    /// Returns an inverted box (x1 < x0) for images of this width.
    var invertedWidth: Int?

    struct Failure: Error, CustomStringConvertible {
        var description: String { "fake detector failure" }
    }

    func detect(_ image: RGBImage, queries: DetectionQueries) throws -> [DetectedBox] {
        calls.append(image.width)
        if image.width == failingWidth { throw Failure() }
        if image.width == invertedWidth { return [DetectedBox(box: [5, 0, 1, 1], score: 0.5, label: "x")] }
        return Self.expected(image, queries: queries)
    }

    static func expected(_ image: RGBImage, queries: DetectionQueries) -> [DetectedBox] {
        let pixel = image[0, 0]
        var out = [
            DetectedBox(
                box: [0, 0, image.width, image.height], score: Float(pixel.red) / 255,
                label: queries.tags.first ?? "")
        ]
        if image.width % 2 == 0 {
            out.append(
                DetectedBox(
                    box: [1, 1, image.width / 2, image.height / 2], score: Float(pixel.green) / 7,
                    label: queries.tags.last ?? ""))
        }
        return out
    }
}

/// One record of a box JSON as the tests compare it; `id` is "int:N" or "str:S" so the JSON type is checked.
private struct Row: Equatable, CustomStringConvertible {
    var id: String
    var boxes: [[Int]]
    var scores: [Float]
    var labels: [String]

    var description: String { "\(id) \(boxes) \(scores) \(labels)" }
}

final class BoxGenerationTests: XCTestCase {
    private var tempDir: URL!
    private let queries = DetectionQueries(tags: ["cat", "dog \"quoted\""])

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("boxgen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tempDir) }

    // MARK: Helpers

    /// A `width`×(width/2+3) image whose pixels depend on `width`.
    private func image(width: Int) -> RGBImage {
        let height = width / 2 + 3
        var pixels: [UInt8] = []
        for i in 0..<(width * height) {
            pixels += [UInt8((width * 37 + i) % 256), UInt8((width * 11 + 2 * i) % 256), UInt8(i % 256)]
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @discardableResult
    private func writeImage(width: Int, _ name: String) throws -> URL {
        let url = tempDir.appendingPathComponent(name)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try image(width: width).pngData().write(to: url)
        return url
    }

    private func write(_ text: String, _ name: String) throws -> URL {
        let url = tempDir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private func expectedRow(_ id: String, width: Int) -> Row {
        let boxes = FakeDetector.expected(image(width: width), queries: queries)
        return Row(id: id, boxes: boxes.map(\.box), scores: boxes.map(\.score), labels: boxes.map(\.label))
    }

    private func readRows(_ url: URL) throws -> [Row] {
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        return try list.map { object in
            let id: String
            if let text = object["id"] as? String {
                id = "str:" + text
            } else {
                id = "int:\(try XCTUnwrap(object["id"] as? Int))"
            }
            return Row(
                id: id, boxes: try XCTUnwrap(object["boxes"] as? [[Int]]),
                scores: try XCTUnwrap(object["scores"] as? [Double]).map(Float.init),
                labels: try XCTUnwrap(object["labels"] as? [String]))
        }
    }

    private func run(
        _ source: BoxGenerationSource, output: URL, detector: FakeDetector, retryFailures: Bool = false,
        stopAfter: Int? = nil, progress: (BoxGenerationProgress) -> Void = { _ in }
    ) throws -> BoxGenerationSummary {
        let plan = try BoxGenerationPlan.load(source)
        let generation = BoxGenerationRun(
            plan: plan, output: output, queries: queries, detectorName: "fake", retryFailures: retryFailures)
        return try generation.run(detector: detector, progress: progress) {
            stopAfter.map { detector.calls.count >= $0 } ?? false
        }
    }

    /// Five images (widths 10…14) and one record each, ids alternating int and string.
    private func fiveRecords() throws -> (source: BoxGenerationSource, expected: [Row]) {
        var records: [String] = [], expected: [Row] = []
        for width in 10...14 {
            try writeImage(width: width, "imgs/\(width).png")
            let id = width % 2 == 0 ? "\(width)" : "\"r\(width)\""
            records.append("{\"id\": \(id), \"image\": \"\(width).png\", \"conversations\": []}")
            expected.append(expectedRow(width % 2 == 0 ? "int:\(width)" : "str:r\(width)", width: width))
        }
        let file = try write("[" + records.joined(separator: ",\n") + "]", "five.json")
        return (.records(file, imageFolder: tempDir.appendingPathComponent("imgs")), expected)
    }

    // MARK: Inputs and output

    func testSingleImageWritesUpstreamKeyOrderAndScoresAsPythonWritesThem() throws {
        // 255×… image: first pixel red = 255*37 % 256 = 219, green = 255*11 % 256 = 245 → scores 219/255, 245/7.
        let file = try writeImage(width: 255, "photo.cat.png")
        let output = tempDir.appendingPathComponent("out/boxes.json")
        let summary = try run(.image(file, id: nil), output: output, detector: FakeDetector())
        // Python's repr of the float32 score as a float (upstream's `.tolist()` then json.dump): 0.8588235378265381.
        let score = Float(219) / 255
        XCTAssertEqual(Double(score).description, "0.8588235378265381")
        let text = try String(contentsOf: output, encoding: .utf8)
        XCTAssertEqual(
            text,
            "[\n{\"id\": \"photo.cat\", \"boxes\": [[0, 0, 255, 130]], \"scores\": [0.8588235378265381], "
                + "\"labels\": [\"cat\"]}\n]\n")
        XCTAssertEqual(Float("\(score)"), score)
        XCTAssertTrue(summary.completed)
        XCTAssertEqual(summary.images, 1)
        XCTAssertEqual(summary.boxes, 1)
        XCTAssertEqual(summary.output, output)
        XCTAssertNil(summary.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: BoxGenerationRun.logURL(for: output).path))
        let index = try BoxIndex.load(contentsOf: output)
        XCTAssertEqual(index.records["photo.cat"]?.scores.map(Float.init), [score])

        // An explicit integer id is written as a JSON number.
        let second = tempDir.appendingPathComponent("second.json")
        _ = try run(.image(file, id: .int(7)), output: second, detector: FakeDetector())
        XCTAssertEqual(try readRows(second).map(\.id), ["int:7"])
    }

    func testLLaVAJSONSharesImagesSkipsTextOnlyAndKeepsIDTypes() throws {
        try writeImage(width: 20, "imgs/a.png")
        try writeImage(width: 21, "imgs/sub/b.png")
        let file = try write(
            """
            [
              {"id": 1, "image": "a.png", "conversations": []},
              {"id": "two", "image": "sub/b.png", "conversations": []},
              {"id": "text-only", "conversations": []},
              {"id": 3, "image": "./a.png", "conversations": []},
              {"id": "empty-image", "image": "", "conversations": []},
              {"id": 1, "image": "a.png", "conversations": []}
            ]
            """, "data.json")
        let detector = FakeDetector()
        let output = tempDir.appendingPathComponent("boxes.json")
        var reports: [BoxGenerationProgress] = []
        let summary = try run(
            try BoxGenerationSource.detect(file, imageFolder: tempDir.appendingPathComponent("imgs")),
            output: output, detector: detector, progress: { reports.append($0) })
        XCTAssertEqual(detector.calls, [20, 21], "a.png is detected once for ids 1 and 3")
        XCTAssertEqual(
            try readRows(output),
            [expectedRow("int:1", width: 20), expectedRow("int:3", width: 20), expectedRow("str:two", width: 21)])
        XCTAssertEqual(summary.skippedRecords, 2)
        XCTAssertEqual(summary.images, 2)
        XCTAssertEqual(summary.ids, 3)
        XCTAssertEqual(summary.boxes, 5)
        XCTAssertEqual(summary.failures, [])
        XCTAssertEqual(reports.map(\.done), [1, 2])
        XCTAssertEqual(reports.map(\.total), [2, 2])
        XCTAssertEqual(reports.last?.secondsRemaining ?? 0, 0, accuracy: 1e-9)
        XCTAssertEqual(try BoxIndex.load(contentsOf: output).count, 3)
    }

    func testJSONLinesInput() throws {
        try writeImage(width: 30, "imgs/a.png")
        try writeImage(width: 31, "imgs/b.png")
        let file = try write(
            "{\"id\": \"x\", \"image\": \"a.png\"}\n\n{\"id\": 9, \"image\": \"b.png\"}\n{\"id\": 10}\n",
            "data.jsonl")
        let output = tempDir.appendingPathComponent("boxes.json")
        let summary = try run(
            .records(file, imageFolder: tempDir.appendingPathComponent("imgs")), output: output,
            detector: FakeDetector())
        XCTAssertEqual(try readRows(output), [expectedRow("str:x", width: 30), expectedRow("int:9", width: 31)])
        XCTAssertEqual(summary.skippedRecords, 1)

        // One pretty-printed record is read as one record, not as broken JSON lines.
        let pretty = try write("{\n  \"id\": 4,\n  \"image\": \"b.png\"\n}\n", "one.json")
        let plan = try BoxGenerationPlan.load(.records(pretty, imageFolder: tempDir.appendingPathComponent("imgs")))
        XCTAssertEqual(plan.ids, [.int(4)])
    }

    func testMultipleChoiceTSVWithReferencesAndABadImage() throws {
        let a = try image(width: 40).pngData().base64EncodedString()
        let b = try image(width: 41).pngData().base64EncodedString()
        let garbage = Data("this is not an image file at all".utf8).base64EncodedString()
        let file = try write(
            [
                "index\tquestion\tA\tB\tanswer\tcategory\timage",
                "0\tq0\tx\ty\tA\tc\t\(a)",
                "1\tq1\tx\ty\tB\tc\t\(b)",
                "1000000\tq0\ty\tx\tB\tc\t0",
                "5\tq5\tx\ty\tA\tc\t\(garbage)"
            ].joined(separator: "\n") + "\n", "bench.tsv")
        let detector = FakeDetector()
        let output = tempDir.appendingPathComponent("boxes.json")
        let summary = try run(try BoxGenerationSource.detect(file), output: output, detector: detector)
        XCTAssertEqual(detector.calls, [40, 41], "the referencing row shares row 0's detection")
        XCTAssertEqual(
            try readRows(output),
            [expectedRow("int:0", width: 40), expectedRow("int:1000000", width: 40), expectedRow("int:1", width: 41)])
        XCTAssertEqual(summary.failures.map(\.id), [.int(5)])
        XCTAssertTrue(summary.failures[0].reason.contains("bench.tsv:5 index 5"), summary.failures[0].reason)
    }

    func testSourceDetection() throws {
        let folder = tempDir.appendingPathComponent("imgs")
        let json = tempDir.appendingPathComponent("d.JSON")
        XCTAssertEqual(try BoxGenerationSource.detect(json, imageFolder: folder), .records(json, imageFolder: folder))
        XCTAssertThrowsError(try BoxGenerationSource.detect(json)) { error in
            XCTAssertEqual(error as? BoxGenerationError, .missingImageFolder(file: json.path))
        }
        let jpg = tempDir.appendingPathComponent("p.jpg")
        XCTAssertEqual(try BoxGenerationSource.detect(jpg, id: .string("p1")), .image(jpg, id: .string("p1")))
        XCTAssertThrowsError(try BoxGenerationSource.detect(jpg, imageFolder: folder))
        let tsv = tempDir.appendingPathComponent("MMBench_DEV_EN.tsv")
        XCTAssertEqual(try BoxGenerationSource.detect(tsv), .multipleChoice(tsv))
    }

    // MARK: Resume

    func testStoppedRunLeavesNoFinalFileAndRerunDetectsOnlyTheRest() throws {
        let (source, expected) = try fiveRecords()
        let output = tempDir.appendingPathComponent("boxes.json")
        let first = FakeDetector()
        let stopped = try run(source, output: output, detector: first, stopAfter: 2)
        XCTAssertEqual(first.calls, [10, 11])
        XCTAssertFalse(stopped.completed)
        XCTAssertNil(stopped.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "no final file when stopped")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path + ".tmp"))
        XCTAssertEqual(stopped.log, BoxGenerationRun.logURL(for: output))

        let second = FakeDetector()
        var reports: [BoxGenerationProgress] = []
        let resumed = try run(source, output: output, detector: second, progress: { reports.append($0) })
        XCTAssertEqual(second.calls, [12, 13, 14])
        XCTAssertEqual(resumed.resumedIDs, 2)
        XCTAssertEqual(resumed.detected, 3)
        XCTAssertEqual(reports.map(\.done), [3, 4, 5])
        XCTAssertEqual(reports.first?.resumed, 2)
        XCTAssertEqual(try readRows(output), expected)
        XCTAssertFalse(FileManager.default.fileExists(atPath: BoxGenerationRun.logURL(for: output).path))
        XCTAssertEqual(try BoxIndex.load(contentsOf: output).count, 5)
    }

    func testTornLastLogLineIsRedone() throws {
        let (source, expected) = try fiveRecords()
        let output = tempDir.appendingPathComponent("boxes.json")
        _ = try run(source, output: output, detector: FakeDetector(), stopAfter: 3)
        // A crash in the middle of writing the third image's line: cut it short.
        let logURL = BoxGenerationRun.logURL(for: output)
        var text = try String(contentsOf: logURL, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("}\n"))
        text.removeLast(12)
        try Data(text.utf8).write(to: logURL)

        let detector = FakeDetector()
        let summary = try run(source, output: output, detector: detector)
        XCTAssertEqual(detector.calls, [12, 13, 14])
        XCTAssertEqual(summary.droppedLogLines, 1)
        XCTAssertEqual(try readRows(output), expected)
    }

    func testLogFromOtherSettingsIsDiscarded() throws {
        let (source, _) = try fiveRecords()
        let output = tempDir.appendingPathComponent("boxes.json")
        _ = try run(source, output: output, detector: FakeDetector(), stopAfter: 2)
        let plan = try BoxGenerationPlan.load(source)
        let detector = FakeDetector()
        let summary = try BoxGenerationRun(
            plan: plan, output: output, queries: DetectionQueries(tags: ["cat"], threshold: 0.3),
            detectorName: "fake"
        ).run(detector: detector)
        XCTAssertTrue(summary.discardedStaleLog)
        XCTAssertEqual(detector.calls, [10, 11, 12, 13, 14])

        // The same name with other contents (one more record) is another input.
        let other = tempDir.appendingPathComponent("other.json")
        _ = try run(source, output: other, detector: FakeDetector(), stopAfter: 2)
        let text = try String(contentsOf: source.file, encoding: .utf8)
        try Data(("[{\"id\": 0}," + text.dropFirst()).utf8).write(to: source.file)
        let changed = try run(source, output: other, detector: FakeDetector())
        XCTAssertTrue(changed.discardedStaleLog)
        XCTAssertEqual(changed.skippedRecords, 1)
    }

    // MARK: Bad images

    func testBadImagesAreRecordedAndRetriedOnlyWhenAsked() throws {
        let folder = tempDir.appendingPathComponent("imgs")
        try writeImage(width: 50, "imgs/good.png")
        try writeImage(width: 51, "imgs/fails.png")
        try writeImage(width: 52, "imgs/inverted.png")
        try Data("GIF89a but not really".utf8).write(to: folder.appendingPathComponent("broken.gif"))
        let file = try write(
            """
            [{"id": 1, "image": "good.png"}, {"id": 2, "image": "missing.png"}, {"id": 3, "image": "broken.gif"},
             {"id": 4, "image": "fails.png"}, {"id": 5, "image": "inverted.png"}]
            """, "data.json")
        let source = BoxGenerationSource.records(file, imageFolder: folder)
        let output = tempDir.appendingPathComponent("boxes.json")
        let detector = FakeDetector()
        detector.failingWidth = 51
        detector.invertedWidth = 52
        let summary = try run(source, output: output, detector: detector)
        XCTAssertTrue(summary.completed)
        XCTAssertEqual(try readRows(output), [expectedRow("int:1", width: 50)])
        XCTAssertEqual(summary.failures.map(\.id), [.int(2), .int(3), .int(4), .int(5)])
        let reasons = summary.failures.map(\.reason)
        XCTAssertTrue(reasons[0].contains("missing.png") && reasons[0].contains("does not exist"), reasons[0])
        XCTAssertTrue(reasons[1].contains("broken.gif"), reasons[1])
        XCTAssertTrue(reasons[2].contains("fails.png") && reasons[2].contains("fake detector failure"), reasons[2])
        XCTAssertTrue(reasons[3].contains("negative width"), reasons[3])
        XCTAssertEqual(summary.log, BoxGenerationRun.logURL(for: output), "kept so the failures can be retried")

        // Without retryFailures the logged failures stand and nothing is detected.
        let again = FakeDetector()
        let rerun = try run(source, output: output, detector: again)
        XCTAssertEqual(again.calls, [])
        XCTAssertEqual(rerun.failures.map(\.id), [.int(2), .int(3), .int(4), .int(5)])

        // Fixed inputs, retried: only the failed ids are detected, and the log goes.
        try writeImage(width: 53, "imgs/missing.png")
        try writeImage(width: 54, "imgs/broken.gif")
        let retry = FakeDetector()
        let retried = try run(source, output: output, detector: retry, retryFailures: true)
        XCTAssertEqual(retry.calls, [53, 54, 51, 52])
        XCTAssertEqual(retried.failures, [])
        XCTAssertNil(retried.log)
        XCTAssertEqual(
            try readRows(output),
            [
                expectedRow("int:1", width: 50), expectedRow("int:2", width: 53), expectedRow("int:3", width: 54),
                expectedRow("int:4", width: 51), expectedRow("int:5", width: 52)
            ])
    }

    // MARK: Id collisions

    func testSameIDWithDifferentImagesIsRefusedBeforeDetection() throws {
        let file = try write(
            """
            [{"id": "a", "image": "x.png"}, {"id": 7, "image": "y.png"}, {"id": "7", "image": "z.png"}]
            """, "clash.json")
        XCTAssertThrowsError(
            try BoxGenerationPlan.load(.records(file, imageFolder: tempDir))
        ) { error in
            XCTAssertEqual(
                error as? BoxGenerationError,
                .conflictingImages(
                    file: file.path, id: "7", first: "y.png", firstRecord: "record 1", second: "z.png",
                    record: "record 2"))
            let text = "\(error)"
            for part in [file.path, "\"7\"", "y.png", "z.png"] { XCTAssertTrue(text.contains(part), text) }
        }
    }

    func testInvalidRecordsNameFileRecordAndValue() throws {
        let file = try write("{\"id\": 1.5, \"image\": \"a.png\"}\n", "bad.jsonl")
        XCTAssertThrowsError(try BoxGenerationPlan.load(.records(file, imageFolder: tempDir))) { error in
            XCTAssertEqual(
                error as? BoxGenerationError,
                .invalidRecord(
                    file: file.path, record: "line 1", id: nil,
                    problem: "\"id\" is a number (1.5), expected a string or an integer"))
        }
        let torn = try write("{\"id\": 1, \"image\": \"a.png\"}\n{\"id\": 2, \"ima", "torn.jsonl")
        XCTAssertThrowsError(try BoxGenerationPlan.load(.records(torn, imageFolder: tempDir))) { error in
            guard case .malformedJSON(let name, let line, _, _)? = error as? DataError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(name, torn.path)
            XCTAssertEqual(line, 2)
        }
    }
}
