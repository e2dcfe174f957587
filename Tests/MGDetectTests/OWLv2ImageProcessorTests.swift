import Foundation
import MGCheckpoint
import MGJSON
import MGTestSupport
import XCTest

@testable import MGDetect

/// OWLv2ImageProcessor against transformers 4.44.2's numpy `Owlv2ImageProcessor` (fixtures from
/// scripts/make_owlv2_preprocess_fixtures.py: Tests/Fixtures/owlv2/).
final class OWLv2ImageProcessorTests: XCTestCase {
    /// preprocess.json: one entry per case.
    struct Manifest: Decodable {
        /// The processor keyword arguments a case sets besides `size`.
        struct Kwargs: Decodable {
            var doPad: Bool?
            var doNormalize: Bool?
            enum CodingKeys: String, CodingKey { case doPad = "do_pad", doNormalize = "do_normalize" }
        }
        struct Case: Decodable {
            var name: String
            var width: Int
            var height: Int
            var size: OWLv2ImageSize
            var kwargs: Kwargs?
            var png: String?
            var rows: [Int]?
        }
        var cases: [Case]
    }

    static let tolerance: Float = 1e-5

    func manifest() throws -> Manifest {
        let data = try Data(contentsOf: Fixtures.url("owlv2/preprocess/preprocess.json"))
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    func reference() throws -> SafeTensorsFile {
        try SafeTensorsFile(url: Fixtures.url("owlv2/preprocess/preprocess.safetensors"))
    }

    /// The formula cases' pixels, as the fixture script's `formula_image`: [height, width, 3] bytes.
    static func formulaImage(width: Int, height: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    bytes[(y * width + x) * 3 + c] = UInt8((x * 7 + y * 13 + ((x * y) % 11) * 5 + c * 85) % 256)
                }
            }
        }
        return bytes
    }

    func testBasePreprocessorConfigParses() throws {
        let config = try OWLv2ImageProcessorConfiguration.load(Fixtures.url("owlv2/preprocessor_config.json"))
        XCTAssertEqual(config, OWLv2ImageProcessorConfiguration())
        XCTAssertEqual(config.size, OWLv2ImageSize(height: 960, width: 960))
        XCTAssertEqual(config.rescaleFactor, 1.0 / 255.0)
        XCTAssertEqual(config.resample, 2)
        XCTAssertEqual(config.imageMean, [0.48145466, 0.4578275, 0.40821073])
        XCTAssertEqual(config.imageStd, [0.26862954, 0.26130258, 0.27577711])
        // The folder form finds the file by its default name.
        let folder = try OWLv2ImageProcessor.load(Fixtures.url("owlv2/"))
        XCTAssertEqual(folder.configuration, config)
    }

    func testMatchesTransformersOnSmallImages() throws {
        let ref = try reference()
        var worst: Float = 0
        var count = 0
        for entry in try manifest().cases where entry.png != nil {
            let rgb = try ref.tensor("\(entry.name).rgb")
            XCTAssertEqual(rgb.shape, [entry.height, entry.width, 3], entry.name)
            let bytes = rgb.toArray().map { UInt8($0) }
            let config = OWLv2ImageProcessorConfiguration(
                doPad: entry.kwargs?.doPad ?? true, size: entry.size, doNormalize: entry.kwargs?.doNormalize ?? true)
            let processor = OWLv2ImageProcessor(configuration: config)
            let out = try processor.preprocess(rgb: bytes, width: entry.width, height: entry.height)
            XCTAssertEqual(out.paddedSide, max(entry.width, entry.height), entry.name)
            let expected = try ref.tensor("\(entry.name).pixel_values")
            let result = compare(out.pixelValues, expected, atol: Self.tolerance)
            XCTAssertTrue(result.ok, "\(entry.name): \(result.message)")
            print("OWLv2 preprocess \(entry.name): max |diff| \(result.maxAbs)")
            worst = max(worst, result.maxAbs)
            count += 1
        }
        XCTAssertEqual(count, 15)
        print("OWLv2 preprocess small cases: max |diff| \(worst) over \(count) images")
    }

    func testMatchesTransformersAtBaseConfig() throws {
        let ref = try reference()
        let processor = try OWLv2ImageProcessor.load(Fixtures.url("owlv2/preprocessor_config.json"))
        var count = 0
        for entry in try manifest().cases {
            guard let rows = entry.rows else { continue }
            let bytes = Self.formulaImage(width: entry.width, height: entry.height)
            let out = try processor.preprocess(rgb: bytes, width: entry.width, height: entry.height)
            XCTAssertEqual(out.pixelValues.shape, [1, 3, 960, 960], entry.name)
            // Keep the reference's rows: [1, 3, 960, 960] → [3, R, 960].
            let all = out.pixelValues.toArray()
            var picked: [Float] = []
            for c in 0..<3 {
                for r in rows { picked += all[(c * 960 + r) * 960..<(c * 960 + r + 1) * 960] }
            }
            let expected = try ref.tensor("\(entry.name).rows")
            let result = compare(Tensor(picked, shape: [3, rows.count, 960]), expected, atol: Self.tolerance)
            XCTAssertTrue(result.ok, "\(entry.name): \(result.message)")
            print("OWLv2 preprocess \(entry.name) (base config, rows \(rows)): max |diff| \(result.maxAbs)")
            count += 1
        }
        XCTAssertEqual(count, 3)
    }

    func testPaddedSideAndUnpaddedShapes() throws {
        XCTAssertEqual(OWLv2ImageProcessor.paddedSide(width: 4000, height: 3000), 4000)
        XCTAssertEqual(OWLv2ImageProcessor.paddedSide(width: 7, height: 9), 9)
        // Without pad and resize the output keeps the image's own shape: [1, 3, H, W].
        let config = OWLv2ImageProcessorConfiguration(doPad: false, doResize: false, doNormalize: false)
        let out = try OWLv2ImageProcessor(configuration: config)
            .preprocess(rgb: [UInt8](repeating: 255, count: 5 * 2 * 3), width: 5, height: 2)
        XCTAssertEqual(out.pixelValues.shape, [1, 3, 2, 5])
        XCTAssertEqual(Set(out.pixelValues.toArray()), [1])
    }

    func testRejectsBadImages() {
        let processor = OWLv2ImageProcessor()
        XCTAssertThrowsError(try processor.preprocess(rgb: [], width: 0, height: 4)) { error in
            XCTAssertEqual((error as? OWLv2ImageError)?.field, "width", "\(error)")
            XCTAssertTrue("\(error)".contains("found 0"), "\(error)")
        }
        XCTAssertThrowsError(try processor.preprocess(rgb: [], width: 4, height: 0)) { error in
            XCTAssertEqual((error as? OWLv2ImageError)?.field, "height", "\(error)")
        }
        XCTAssertThrowsError(try processor.preprocess(rgb: [1, 2, 3], width: 2, height: 2)) { error in
            XCTAssertEqual((error as? OWLv2ImageError)?.field, "rgb", "\(error)")
            XCTAssertTrue("\(error)".contains("12 bytes, found 3"), "\(error)")
        }
        XCTAssertThrowsError(try processor.preprocess(rgb: [], width: -3, height: 2)) { error in
            XCTAssertEqual((error as? OWLv2ImageError)?.field, "width", "\(error)")
        }
    }

    /// Decodes `json` as a preprocessor config and returns the ConfigError it throws.
    func configError(_ json: String) -> ConfigError? {
        do {
            _ = try OWLv2ImageProcessorConfiguration.decode(Data(json.utf8), path: "p/preprocessor_config.json")
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("not a ConfigError: \(error)")
            return nil
        }
    }

    func testRejectsMalformedConfigs() throws {
        let wrongType = try XCTUnwrap(configError(#"{"size": "960"}"#))
        XCTAssertEqual(wrongType.path, "p/preprocessor_config.json")
        XCTAssertEqual(wrongType.key, "size")
        XCTAssertTrue(wrongType.reason.contains("960"), "\(wrongType)")

        let missing = try XCTUnwrap(configError(#"{"size": {"height": 960}}"#))
        XCTAssertEqual(missing.key, "size.width")

        let negative = try XCTUnwrap(configError(#"{"size": {"height": -1, "width": 960}}"#))
        XCTAssertEqual(negative.key, "size.height")
        XCTAssertTrue(negative.reason.contains("-1"), "\(negative)")

        let fractional = try XCTUnwrap(configError(#"{"size": {"height": 960.5, "width": 960}}"#))
        XCTAssertEqual(fractional.key, "size.height")

        let twoMeans = try XCTUnwrap(configError(#"{"image_mean": [0.5, 0.5]}"#))
        XCTAssertEqual(twoMeans.key, "image_mean")
        XCTAssertTrue(twoMeans.reason.contains("found 2"), "\(twoMeans)")

        let zeroStd = try XCTUnwrap(configError(#"{"image_std": [0.5, 0, 0.5]}"#))
        XCTAssertEqual(zeroStd.key, "image_std")

        let noRescale = try XCTUnwrap(configError(#"{"do_rescale": false}"#))
        XCTAssertEqual(noRescale.key, "do_rescale")

        let badBool = try XCTUnwrap(configError(#"{"do_pad": "yes"}"#))
        XCTAssertEqual(badBool.key, "do_pad")

        let trailingComma = try XCTUnwrap(configError(#"{"do_pad": true,}"#))
        XCTAssertEqual(trailingComma.key, "")

        // A single number for mean/std is broadcast, as upstream's normalize accepts.
        let scalar = try OWLv2ImageProcessorConfiguration.decode(
            Data(#"{"image_mean": 0.5, "image_std": 0.25, "size": {"height": 8, "width": 8}}"#.utf8), path: "p")
        XCTAssertEqual(scalar.imageMean, [0.5, 0.5, 0.5])
        XCTAssertEqual(scalar.imageStd, [0.25, 0.25, 0.25])
        XCTAssertEqual(scalar.size, OWLv2ImageSize(height: 8, width: 8))
    }

    func testRejectsBadHandBuiltConfiguration() {
        var config = OWLv2ImageProcessorConfiguration()
        config.size = OWLv2ImageSize(height: 0, width: 8)
        XCTAssertThrowsError(
            try OWLv2ImageProcessor(configuration: config).preprocess(rgb: [0, 0, 0], width: 1, height: 1)
        ) { error in
            XCTAssertEqual((error as? OWLv2ImageError)?.field, "size", "\(error)")
        }
    }
}
