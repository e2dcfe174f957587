import Foundation
import XCTest
import MGObjects
import MGTestSupport

/// Every intermediate of the box pipeline against the reference (Tests/Fixtures/preprocess/cases.json, produced by
/// MG-LLaVA's own `MGLLaVADataset.__getitem__` code path): 6 cases × aux 128 and 768, compared exactly.
final class BoxPipelineFixtureTests: XCTestCase {
    private struct Case {
        let name: String, limitNum: Int, textLength: Int, maxLength: Int, width: Int, height: Int
        let expected: [String: [String: Any]]
    }

    private func loadCases() throws -> (cases: [Case], records: [String: BoxRecord]) {
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.url("preprocess/cases.json"))) as? [String: Any])
        let photos = try XCTUnwrap(json["photos"] as? [[String: Any]])
        var sizes: [String: (Int, Int)] = [:]
        for p in photos {
            sizes[try XCTUnwrap(p["file"] as? String)] = (
                try XCTUnwrap(p["width"] as? Int), try XCTUnwrap(p["height"] as? Int)
            )
        }
        let cases = try XCTUnwrap(json["cases"] as? [[String: Any]])
        let expected = try XCTUnwrap(json["expected"] as? [[String: Any]])
        var out: [Case] = []
        for (c, e) in zip(cases, expected) {
            let size = try XCTUnwrap(sizes[try XCTUnwrap(c["photo"] as? String)])
            var byAux: [String: [String: Any]] = [:]
            for (key, value) in e where key.hasPrefix("aux") { byAux[key] = value as? [String: Any] }
            out.append(
                Case(
                    name: try XCTUnwrap(c["case"] as? String), limitNum: try XCTUnwrap(c["limit_num"] as? Int),
                    textLength: try XCTUnwrap(c["len_text_ids"] as? Int),
                    maxLength: try XCTUnwrap(c["max_length"] as? Int),
                    width: size.0, height: size.1, expected: byAux))
        }
        let records = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        return (out, Dictionary(uniqueKeysWithValues: records.map { ($0.id.key, $0) }))
    }

    private func doubles(_ value: Any?) -> [[Double]] {
        ((value as? [[Any]]) ?? []).map { $0.map { ($0 as? NSNumber)?.doubleValue ?? .nan } }
    }

    func testEveryIntermediateMatches() throws {
        let (cases, records) = try loadCases()
        XCTAssertEqual(cases.count, 6)
        var checked = 0
        for c in cases {
            let record = try XCTUnwrap(records[c.name])
            for (auxKey, e) in c.expected.sorted(by: { $0.key < $1.key }) {
                let aux = try XCTUnwrap(Int(auxKey.dropFirst(3)))
                let config = BoxPipelineConfig(auxSize: aux, limitNum: c.limitNum, maxLength: c.maxLength)
                let r = try BoxPipeline.run(
                    record, imageWidth: c.width, imageHeight: c.height, textLength: c.textLength,
                    config: config)
                let at = "\(c.name) \(auxKey)"
                XCTAssertEqual(
                    r.boxesAfterPadding.map { [$0[0], $0[1], $0[2], $0[3]] }, doubles(e["boxes_after_padding"]), at)
                XCTAssertEqual(
                    r.boxesAfterNMS.map { [Double($0[0]), Double($0[1]), Double($0[2]), Double($0[3])] },
                    doubles(e["boxes_after_nms"]), at)
                XCTAssertEqual(r.labelsAfterNMS, e["labels_after_nms"] as? [String], at)
                XCTAssertEqual(r.scoresAfterNMS, ((e["scores_after_nms"] as? [Double]) ?? []).map { Float($0) }, at)
                XCTAssertEqual(r.closeToMaxLength, e["close_to_max_length"] as? Bool, at)
                XCTAssertEqual(r.numPerCategory, e["num_per_category"] as? Int, at)
                XCTAssertEqual(r.capped, e["capped"] as? Bool, at)
                XCTAssertEqual(
                    r.boxesAfterLimit.map { [Double($0[0]), Double($0[1]), Double($0[2]), Double($0[3])] },
                    doubles(e["boxes_after_limit"]), at)
                XCTAssertEqual(r.labelsAfterLimit, e["labels_after_limit"] as? [String], at)
                XCTAssertEqual(r.scale, Float(try XCTUnwrap(e["scale_float32"] as? Double)), at)
                XCTAssertEqual(
                    r.boxesAfterResize.map { [Double($0[0]), Double($0[1]), Double($0[2]), Double($0[3])] },
                    doubles(e["boxes_after_resize"]), at)
                XCTAssertEqual(r.resizedHeight, e["h1"] as? Int, at)
                XCTAssertEqual(r.resizedWidth, e["h1"] as? Int, at)
                XCTAssertEqual(r.cropStartY, e["crop_start"] as? Int, at)
                XCTAssertEqual(r.cropStartX, e["crop_start"] as? Int, at)
                XCTAssertEqual(
                    r.boxes.map { [Double($0[0]), Double($0[1]), Double($0[2]), Double($0[3])] },
                    doubles(e["boxes_final"]), at)
                XCTAssertEqual(r.labels, e["labels_final"] as? [String], at)
                XCTAssertEqual(r.tensor.shape, [r.boxes.count, 4], at)
                checked += 1
            }
        }
        XCTAssertEqual(checked, 12)
    }
}
