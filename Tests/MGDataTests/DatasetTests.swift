import XCTest
import Foundation
import MGData
import MGTestSupport

final class DatasetTests: XCTestCase {
    private var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("mgdata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tempDir) }

    private func tokenizer() throws -> Tokenizer {
        try Tokenizer.load(directory: Fixtures.url("tokenizers/vicuna-tiny"))
    }

    /// Small frames keep debug-mode image preprocessing fast; the text side does not depend on them.
    private let processor = ImageProcessor(auxSize: 64, clipSize: 32)

    private func write(_ json: Any, _ name: String) throws -> URL {
        let url = tempDir.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return url
    }

    private func write(text: String, _ name: String) throws -> URL {
        let url = tempDir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// The reference records with their images pointed at the fixture photos, and boxes.json's records re-keyed
    /// to the record ids.
    private func referenceSetup() throws -> (cases: [[String: Any]], records: URL, boxes: BoxIndex) {
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("reference/conversations-vicuna.json"))) as! [String: Any]
        let cases = reference["records"] as! [[String: Any]]
        let photos = ["photo0.jpg", "photo1.png", "photo2.jpg"]
        var records: [[String: Any]] = []
        for (i, item) in cases.enumerated() {
            var record = item["record"] as! [String: Any]
            if record["image"] != nil { record["image"] = photos[i % photos.count] }
            records.append(record)
        }
        let boxList = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        let rekeyed = records.enumerated().map { i, record -> BoxRecord in
            var box = boxList[i % boxList.count]
            box.id = .string("\(record["id"]!)")
            return box
        }
        return (cases, try write(records, "records.json"), try BoxIndex(records: rekeyed))
    }

    func testSamplesMatchReferenceEncoding() throws {
        let (cases, url, boxes) = try referenceSetup()
        let records = try LLaVARecord.load(contentsOf: url)
        XCTAssertEqual(records.count, cases.count)
        XCTAssertEqual(records.first { $0.id == "5" }?.isTextOnly, true)
        let dataset = try LLaVADataset(
            records: records, imageFolder: Fixtures.url("preprocess"), boxes: boxes,
            tokenizer: try tokenizer(), template: .vicuna, processor: processor)
        XCTAssertEqual(dataset.droppedUnsupervised, 0)
        XCTAssertEqual(dataset.count, records.count)
        for (i, item) in cases.enumerated() {
            let record = records[i]
            let sample = try XCTUnwrap(try dataset.sample(at: i), record.id)
            do {
                XCTAssertEqual(sample.inputIds, item["input_ids"] as? [Int], "\(record.id) \(item["kept"] ?? "")")
                XCTAssertEqual(sample.labels, item["labels"] as? [Int], record.id)
            }
            XCTAssertEqual(dataset.lengths[i], sample.inputIds.count)
            if record.isTextOnly {
                XCTAssertNil(sample.pixelValues)
                XCTAssertTrue(sample.boxes.isEmpty)
                XCTAssertEqual(dataset.modalityLengths[i], -sample.inputIds.count)
            } else {
                XCTAssertEqual(sample.pixelValues?.shape, [3, 32, 32])
                XCTAssertEqual(sample.pixelValuesAux?.shape, [3, 64, 64])
                XCTAssertFalse(sample.boxes.isEmpty)
                XCTAssertEqual(dataset.modalityLengths[i], sample.inputIds.count)
            }
        }
        // The fixture's truncation case: the same record at max_length 48 keeps the first 48 ids and labels.
        let i = try XCTUnwrap(records.firstIndex { $0.id == "long_for_truncation" })
        let short = try LLaVADataset(
            records: [records[i]], imageFolder: Fixtures.url("preprocess"), boxes: boxes,
            tokenizer: try tokenizer(), template: .vicuna, maxLength: 48, processor: processor)
        XCTAssertEqual(short.encoding(at: 0).inputIds, Array((cases[i]["input_ids"] as! [Int]).prefix(48)))
        XCTAssertEqual(short.encoding(at: 0).labels, Array((cases[i]["labels"] as! [Int]).prefix(48)))
    }

    func testUnsupervisedRecordsAreDroppedAndCounted() throws {
        let records = [
            LLaVARecord(
                id: "a", image: nil, conversations: [.init(from: "human", value: "hi"), .init(from: "gpt", value: "yo")]
            ),
            LLaVARecord(
                id: "b", image: nil, conversations: [.init(from: "human", value: "a question without an answer")])
        ]
        let dataset = try LLaVADataset(
            records: records, imageFolder: tempDir, boxes: nil, tokenizer: try tokenizer(),
            template: .vicuna, processor: processor)
        XCTAssertEqual(dataset.count, 1)
        XCTAssertEqual(dataset.droppedUnsupervised, 1)
        XCTAssertEqual(dataset.records.map(\.id), ["a"])
    }

    private func imageRecord(_ id: String, _ image: String) -> LLaVARecord {
        LLaVARecord(
            id: id, image: image,
            conversations: [
                .init(from: "human", value: "<image>\nWhat?"),
                .init(from: "gpt", value: "A cup.")
            ])
    }

    func testMissingImageFailsOrIsSkipped() throws {
        let records = [imageRecord("ok", "photo0.jpg"), imageRecord("gone", "nowhere/missing.jpg")]
        let failing = try LLaVADataset(
            records: records, imageFolder: Fixtures.url("preprocess"), boxes: nil,
            tokenizer: try tokenizer(), template: .vicuna, processor: processor)
        XCTAssertNotNil(try failing.sample(at: 0))
        XCTAssertThrowsError(try failing.sample(at: 1)) { error in
            guard case DataError.badSample(let id, 1, let problem) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(id, "gone")
            XCTAssertTrue(problem.contains("missing.jpg"), problem)
        }
        let skipping = try LLaVADataset(
            records: records, imageFolder: Fixtures.url("preprocess"), boxes: nil,
            tokenizer: try tokenizer(), template: .vicuna, processor: processor,
            onBadSample: .skip)
        XCTAssertNil(try skipping.sample(at: 1))
        XCTAssertEqual(skipping.skipped.map(\.id), ["gone"])
        XCTAssertTrue(skipping.skipped[0].reason.contains("missing.jpg"))
    }

    func testBadBoxesAndRolesNameTheSample() throws {
        let boxes = try BoxIndex(records: [
            BoxRecord(id: .string("good"), boxes: [[1, 2, 10, 20]], labels: ["cup"], scores: [0.5]),
            BoxRecord(id: .string("inverted"), boxes: [[10, 2, 1, 20]], labels: ["cup"], scores: [0.5]),
            BoxRecord(id: .string("nan"), boxes: [[.nan, 2, 10, 20]], labels: ["cup"], scores: [0.5])
        ])
        let roles = LLaVARecord(
            id: "roles", image: nil,
            conversations: [
                .init(from: "human", value: "q"),
                .init(from: "robot", value: "a")
            ])
        for bad in [
            imageRecord("inverted", "photo0.jpg"), imageRecord("nan", "photo0.jpg"),
            imageRecord("absent", "photo0.jpg"), roles
        ] {
            XCTAssertThrowsError(
                try LLaVADataset(
                    records: [imageRecord("good", "photo0.jpg"), bad],
                    imageFolder: Fixtures.url("preprocess"), boxes: boxes,
                    tokenizer: try tokenizer(), template: .vicuna, processor: processor)
            ) {
                guard case DataError.badSample(let id, 1, _) = $0 else { return XCTFail("\($0)") }
                XCTAssertEqual(id, bad.id)
                XCTAssertTrue("\($0)".contains(bad.id))
            }
        }
        let records = [
            imageRecord("good", "photo0.jpg"), imageRecord("inverted", "photo0.jpg"),
            imageRecord("absent", "photo0.jpg"), roles
        ]
        let dataset = try LLaVADataset(
            records: records, imageFolder: Fixtures.url("preprocess"), boxes: boxes,
            tokenizer: try tokenizer(), template: .vicuna, processor: processor,
            onBadSample: .skip)
        XCTAssertEqual(dataset.records.map(\.id), ["good"])
        XCTAssertEqual(dataset.skipped.map(\.id), ["inverted", "absent", "roles"])
        XCTAssertTrue(dataset.skipped[0].reason.contains("negative width"), dataset.skipped[0].reason)
        XCTAssertTrue(dataset.skipped[2].reason.contains("robot"), dataset.skipped[2].reason)
    }
}
