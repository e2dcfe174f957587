import Foundation
import MGData
import XCTest

/// Data files are read as strictly as upstream's Python reads them, and problems are reported in words.
final class StrictJSONAndReportingTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("mgdata-strict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func write(_ name: String, _ text: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    private let record =
        #"{"id": "a", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "Yo"}]}"#

    func testTrailingCommasAreRefusedWithFileLineAndColumn() throws {
        XCTAssertEqual(try LLaVARecord.load(contentsOf: try write("ok.json", "[\(record)]")).count, 1)
        // Positions of the comma, as Python's json reports them.
        let cases = [
            ("list.json", "[\(record),\n]", "list.json:1:\(record.count + 2)"),
            ("object.json", "[{\"id\": \"a\", \"image\": \"a.png\",\n \"conversations\": [],}]", "object.json:2:21")
        ]
        for (name, text, position) in cases {
            XCTAssertThrowsError(try LLaVARecord.load(contentsOf: try write(name, text))) {
                XCTAssertTrue("\($0)".contains(position) && "\($0)".contains("trailing comma"), "\($0)")
            }
        }
        let boxes = #"[{"id": "a", "boxes": [[0, 0, 1, 1]], "labels": ["x"], "scores": [NaN],}]"#
        XCTAssertThrowsError(try BoxIndex.decode(Data(boxes.utf8), file: "boxes.json")) {
            XCTAssertTrue("\($0)".contains("boxes.json:1:") && "\($0)".contains("trailing comma"), "\($0)")
        }
        // Python's NaN is still read in box files, so that validation can name the box that holds it.
        let nan = #"[{"id": "a", "boxes": [[0, 0, 1, 1]], "labels": ["x"], "scores": [NaN]}]"#
        XCTAssertEqual(try BoxIndex.decode(Data(nan.utf8), file: "boxes.json", allowDuplicates: false).duplicateIDs, [])
    }

    func testDuplicateIDsAreListedOnceByBytes() {
        func record(_ id: String) -> LLaVARecord { LLaVARecord(id: id, image: nil, conversations: []) }
        let ids = ["a", "b", "a", "c", "b", "a", "\u{E9}", "e\u{301}"]  // é precomposed and decomposed differ
        XCTAssertEqual(LLaVARecord.duplicateIDs(ids.map(record)), ["a", "b"])
        XCTAssertEqual(LLaVARecord.duplicateIDs(["x", "y"].map(record)), [])
    }

    func testFileErrorsAreWords() {
        let noSpace = NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError)
        XCTAssertEqual(DataError.plainReason(noSpace), "No space left on device")
        let wrapped = NSError(
            domain: NSCocoaErrorDomain, code: NSFileReadUnknownError,
            userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EISDIR))])
        XCTAssertEqual(DataError.plainReason(wrapped), "Is a directory")
        XCTAssertEqual(
            DataError.plainReason(DataError.invalidConfiguration("x")), "\(DataError.invalidConfiguration("x"))")
        do {
            _ = try Data(contentsOf: folder.appendingPathComponent("missing.json"))
            XCTFail("read a missing file")
        } catch {
            XCTAssertEqual(DataError.plainReason(error), "No such file or directory")
        }
        XCTAssertThrowsError(try LLaVARecord.load(contentsOf: folder)) {
            XCTAssertFalse("\($0)".contains("NSCocoaErrorDomain"), "\($0)")
            XCTAssertTrue("\($0)".contains(self.folder.path), "\($0)")
        }
    }
}
