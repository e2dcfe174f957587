import XCTest
import Foundation
import MGData
import MGTestSupport

final class RecordFileTests: XCTestCase {
    func testMalformedJSONGivesLineAndColumn() {
        let text = "[\n  {\"id\": 1,\n   \"conversations\": [}\n]"
        XCTAssertThrowsError(try LLaVARecord.decode(Data(text.utf8), file: "x.json")) { error in
            guard case DataError.malformedJSON(let file, let line, let column, _) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "x.json")
            XCTAssertEqual(line, 3)
            XCTAssertEqual(column, 22)
            XCTAssertTrue("\(error)".hasPrefix("x.json:3:22:"), "\(error)")
        }
        XCTAssertThrowsError(try BoxIndex.decode(Data("[{\"id\": 1,\n \"boxes\": ]".utf8), file: "b.json")) { error in
            // The JSON5-capable decoder BoxRecord uses reports the offset one byte later than the strict parser.
            guard case DataError.malformedJSON(_, 2, let column, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue((11...12).contains(column), "\(column)")
        }
    }

    func testTruncatedJSONPointsAtTheEnd() {
        XCTAssertThrowsError(try LLaVARecord.decode(Data("[{\"id\": 1,\n".utf8))) { error in
            guard case DataError.malformedJSON(_, let line, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(line, 2)
        }
    }

    func testInvalidUTF8IsReported() {
        var data = Data("[{\"id\": \"a\",\n \"x\": \"".utf8)
        data.append(0xFF)
        data.append(contentsOf: Array("\"}]".utf8))
        XCTAssertThrowsError(try LLaVARecord.decode(data, file: "u.json")) { error in
            XCTAssertEqual(error as? DataError, .invalidUTF8(file: "u.json", byteOffset: 20, line: 2, column: 8))
        }
    }

    func testFieldsAreCheckedWithRecordIndexAndID() throws {
        func problem(_ json: String) -> String {
            do { _ = try LLaVARecord.decode(Data(json.utf8), file: "f.json"); return "no error" } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(problem(#"[{"conversations": []}]"#), #"f.json: record 0: "id" is missing"#)
        XCTAssertEqual(
            problem(#"[{"id": true, "conversations": []}]"#),
            #"f.json: record 0: "id" is a boolean 1, expected a string or an integer"#)
        XCTAssertTrue(
            problem(#"[{"id": "a", "conversations": []}, {"id": 7}]"#)
                .hasPrefix(#"f.json: record 1 (id "7"): "conversations" is missing"#))
        XCTAssertTrue(
            problem(#"[{"id": "a", "conversations": [{"from": "human", "value": 3}]}]"#)
                .contains(#"record 0 (id "a"): conversations[0].value is a number, expected a string"#))
        XCTAssertTrue(problem(#"[{"id": "a", "image": 5, "conversations": []}]"#).contains(#""image" is a number"#))
        XCTAssertTrue(problem(#"{"id": "a"}"#).contains("expected a list of records"))
        let records = try LLaVARecord.decode(
            Data(
                #"""
                [{"id": 12, "image": "a/b.jpg", "conversations": [{"from": "human", "value": "<image>\nq"}]},
                 {"id": "t", "model": "m", "conversations": []}, {"id": "e", "image": "", "conversations": []}]
                """#.utf8))
        XCTAssertEqual(
            records,
            [
                LLaVARecord(id: "12", image: "a/b.jpg", conversations: [.init(from: "human", value: "<image>\nq")]),
                LLaVARecord(id: "t", image: nil, conversations: []),
                LLaVARecord(id: "e", image: nil, conversations: [])
            ])
    }

    func testBoxIndexDuplicatesAndMissingIDs() throws {
        let json =
            #"[{"id": 1, "boxes": [], "labels": [], "scores": []}, {"id": "1", "boxes": [], "labels": [], "scores": []}, {"id": "x", "boxes": [], "labels": [], "scores": []}]"#
        XCTAssertThrowsError(try BoxIndex.decode(Data(json.utf8), file: "b.json")) { error in
            XCTAssertEqual(error as? DataError, .duplicateBoxIDs(file: "b.json", count: 1, examples: ["1"]))
        }
        let index = try BoxIndex.decode(Data(json.utf8), allowDuplicates: true)
        XCTAssertEqual(index.count, 2)
        XCTAssertEqual(index.duplicateIDs, ["1"])
        XCTAssertThrowsError(try index.record(for: "nope")) {
            XCTAssertEqual($0 as? DataError, .missingBoxes(id: "nope"))
        }
        let fixture = try BoxIndex.load(contentsOf: Fixtures.url("preprocess/boxes.json"))
        XCTAssertEqual(try fixture.record(for: "case3").id, .string("case3"))
        XCTAssertThrowsError(try BoxIndex.decode(Data(#"[{"id": 1, "boxes": []}]"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("labels is missing"), "\(error)")
        }
    }
}
