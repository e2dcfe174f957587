import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// SPEC §4.3 parity with the reference pipeline (`MGLLaVADataset.__getitem__`): Pillow bicubic, CLIP
/// normalisation, bilinear to the CLIP size.
final class ImageProcessorTests: XCTestCase {
    func testTinyPipelineOnAllPhotos() throws {
        let processor = ImageProcessor(auxSize: 128, clipSize: 56)
        for index in 0..<PreprocessFixture.photos.count {
            let file = try PreprocessFixture.tensors(photo: index)
            let processed = processor.process(try PreprocessFixture.pillowRGB(photo: index))
            let aux = compare(processed.pixelValuesAux, try file.tensor("output.pixel_values_aux"), atol: 0)
            let clip = compare(processed.pixelValues, try file.tensor("output.pixel_values"), atol: 1e-6)
            print("photo\(index) aux128 \(aux.message); clip56 \(clip.message)")
            XCTAssertTrue(aux.ok, "photo\(index) pixel_values_aux: \(aux.message)")
            XCTAssertTrue(clip.ok, "photo\(index) pixel_values: \(clip.message)")
        }
    }

    func testFromFilesEndToEnd() throws {
        // Decoding included: the same tensors from the JPEG/PNG files.
        let processor = ImageProcessor(auxSize: 128, clipSize: 56)
        for (index, name) in PreprocessFixture.photos.enumerated() {
            let processed = processor.process(try ImageDecoder.decode(contentsOf: PreprocessFixture.url(name)))
            let aux = compare(
                processed.pixelValuesAux, try PreprocessFixture.tensors(photo: index).tensor("output.pixel_values_aux"),
                atol: 0)
            XCTAssertTrue(aux.ok, "\(name): \(aux.message)")
        }
    }

    func testFull768PipelineOnPhoto0() throws {
        let file = try PreprocessFixture.tensors(photo: 0)
        let processor = ImageProcessor()
        let image = try PreprocessFixture.pillowRGB(photo: 0)
        let padded = processor.expandToSquare(image)
        XCTAssertEqual(padded.image.width, 301)
        XCTAssertEqual(padded.offsetY, 47)
        let resized = processor.resizeAndCrop(padded.image)

        // output.resized768_uint8 is [3, 768, 768]: compare every byte.
        let expected = PreprocessFixture.bytesOf(try file.tensor("output.resized768_uint8"))
        var mismatches = 0
        for c in 0..<3 {
            for i in 0..<(768 * 768) where resized.pixels[3 * i + c] != expected[c * 768 * 768 + i] { mismatches += 1 }
        }
        XCTAssertEqual(mismatches, 0, "bytes differing from Pillow's bicubic resize")

        let processed = processor.process(image)
        XCTAssertEqual(processed.pixelValuesAux.shape, [3, 768, 768])
        XCTAssertEqual(processed.frameWidth, 301)
        let clip = compare(processed.pixelValues, try file.tensor("output.pixel_values_336"), atol: 1e-6)
        print("photo0 clip336 \(clip.message)")
        XCTAssertTrue(clip.ok, clip.message)
    }

    func testPadColourAndPlacement() throws {
        let processor = ImageProcessor()
        XCTAssertEqual(processor.padColor, RGBColor(red: 122, green: 116, blue: 104))
        let red = RGBColor(red: 255, green: 0, blue: 0)
        // Wide: pasted at (0, (W − H) // 2) = (0, 1) for 5×2.
        let wide = processor.expandToSquare(RGBImage(width: 5, height: 2, fill: red))
        XCTAssertEqual(wide.image.width, 5)
        XCTAssertEqual(wide.offsetY, 1)
        XCTAssertEqual(wide.image[0, 0], processor.padColor)
        XCTAssertEqual(wide.image[4, 1], red)
        XCTAssertEqual(wide.image[4, 2], red)
        XCTAssertEqual(wide.image[4, 3], processor.padColor)
        // Tall: ((H − W) // 2, 0) = (1, 0) for 2×5.
        let tall = processor.expandToSquare(RGBImage(width: 2, height: 5, fill: red))
        XCTAssertEqual(tall.offsetX, 1)
        XCTAssertEqual(tall.image[0, 4], processor.padColor)
        XCTAssertEqual(tall.image[1, 4], red)
        XCTAssertEqual(tall.image[3, 4], processor.padColor)
    }

    func testShortestEdgeAndCentreCropArithmetic() {
        // int(aux · long / short): 768 · 1000 / 333 = 2306.3 → 2306.
        XCTAssertTrue(ImageProcessor.shortestEdgeSize(width: 1000, height: 333, shortestEdge: 768) == (2306, 768))
        XCTAssertTrue(ImageProcessor.shortestEdgeSize(width: 333, height: 1000, shortestEdge: 768) == (768, 2306))
        // Odd excess: top = floor(3 / 2) = 1.
        let ramp = RGBImage(width: 1, height: 7, pixels: (0..<7).flatMap { [UInt8($0), 0, 0] })
        let cropped = ImageProcessor.centerCrop(ramp, width: 1, height: 4)
        XCTAssertEqual(cropped.pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element), [1, 2, 3, 4])
        // Larger than the image: zero padding, ceil(excess / 2) before.
        let padded = ImageProcessor.centerCrop(ramp, width: 4, height: 7)
        XCTAssertEqual(padded.width, 4)
        XCTAssertEqual(padded[0, 3], RGBColor(red: 0, green: 0, blue: 0))
        XCTAssertEqual(padded[2, 3], RGBColor(red: 3, green: 0, blue: 0))
        XCTAssertEqual(padded[3, 3], RGBColor(red: 0, green: 0, blue: 0))
    }

    func testResizeIsIdentityAtSameSizeAndHandlesUpscaling() {
        let image = RGBImage(width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 14) })
        XCTAssertEqual(image.resizedBicubic(width: 3, height: 2), image)
        let flat = RGBImage(width: 5, height: 3, fill: RGBColor(red: 9, green: 99, blue: 199))
        // Weights sum to 1 in fixed point (up to rounding): a flat image stays flat, up or down.
        XCTAssertEqual(flat.resizedBicubic(width: 17, height: 11), RGBImage(width: 17, height: 11, fill: flat[0, 0]))
        XCTAssertEqual(flat.resizedBicubic(width: 2, height: 1), RGBImage(width: 2, height: 1, fill: flat[0, 0]))
    }
}
