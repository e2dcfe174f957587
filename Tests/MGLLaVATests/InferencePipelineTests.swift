import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// The library's inference entry point on the tiny fixture stack: loading from the four upstream paths, the
/// geometry check at assembly, and a chat turn giving the reference tokens `mgllava chat` gives
/// (reference/mgllava-e2e-generate: photo0, case0 boxes, the MMBench-style prompt).
final class InferencePipelineTests: XCTestCase {
    private func load(imageSizeAux: Int = 128, forImages: Bool = true) throws -> InferencePipeline {
        try InferencePipeline.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/sft.pth"),
            tokenizer: Fixtures.url("tokenizers/vicuna-tiny"), imageSizeAux: imageSizeAux,
            forImages: forImages)
    }

    func testChatThroughThePipelineGivesTheReferenceTokens() throws {
        let pipeline = try load()
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let records = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        let boxes = try XCTUnwrap(records.first { $0.id.key == "case0" })
        let question =
            "Look at the suit.\nWhat colour is the suit?\nA. white\nB. red\nC. green\nD. black\n"
            + "Answer with the option's letter from the given choices directly."
        let session = try pipeline.chat(about: image, boxes: boxes)
        let reply = try withNoGrad { try session.send(question, maxNewTokens: 16, sampling: .greedy) }
        XCTAssertEqual(reply.ids, [459, 22, 655, 341, 140, 679, 550, 485, 682, 190, 280, 584, 461, 64, 586, 37])
        XCTAssertEqual(
            try pipeline.answer(question, about: image, boxes: boxes, maxNewTokens: 16),
            reply.text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testGeometryIsCheckedAtAssemblyOrAtTheFirstImage() throws {
        XCTAssertThrowsError(try load(imageSizeAux: 768)) {
            XCTAssertTrue(
                "\($0)".contains("image_size_aux 768") && "\($0)".contains("sizes that fit: 128…159"), "\($0)")
        }
        // A text-only pipeline assembles, and refuses the first image.
        let textOnly = try load(imageSizeAux: 768, forImages: false)
        XCTAssertNoThrow(try textOnly.chat(about: nil))
        XCTAssertThrowsError(
            try textOnly.chat(about: RGBImage(width: 4, height: 4, fill: RGBColor(red: 1, green: 2, blue: 3))))
    }
}
