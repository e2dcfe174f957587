import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

/// ChatSession's multi-turn history against MG-LLaVA's own XTuner encoding of the same conversation
/// (Tests/Fixtures/chat/multiturn.json, from `encode_fn` + `template_map_fn` of MG-LLaVA's repository): for
/// every template, with and without an image and a system prompt, after 1, 2 and 3 turns the history holds
/// exactly the ids training builds — BOS at the start and after every EOS (Vicuna), EOS or the template suffix
/// after answers, separators, the image slot only in turn one, the system prompt only in turn one.
final class ChatHistoryTests: XCTestCase {
    struct Case: Decodable {
        let template: String
        let tokenizer: String
        let image: Bool
        let system: String
        let turns: [[String]]
        let input_ids: [[Int]]
    }

    struct File: Decodable { let cases: [Case] }

    func testHistoryMatchesMGLLaVAsEncodingForEveryTemplate() throws {
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("chat/multiturn.json")))
        XCTAssertEqual(Set(file.cases.map(\.template)), Set(PromptTemplate.all.map(\.name)))
        XCTAssertEqual(file.cases.count, 16)
        let model = try MGLLaVAModel.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"), frozen: true)
        let image = try VisualInputs.prepare(
            RGBImage(width: 8, height: 6, fill: RGBColor(red: 10, green: 20, blue: 30)), boxes: nil,
            processor: ImageProcessor(auxSize: 128, clipSize: 56))
        var tokenizers: [String: Tokenizer] = [:]
        for c in file.cases {
            let name = "\(c.template) image \(c.image) system \"\(c.system)\""
            let template = try XCTUnwrap(PromptTemplate.named(c.template))
            let tokenizer = try tokenizers[c.tokenizer] ?? Tokenizer.load(directory: Fixtures.url(c.tokenizer))
            tokenizers[c.tokenizer] = tokenizer
            let session = ChatSession(
                model: model, tokenizer: tokenizer, template: template,
                visual: c.image ? image : nil, system: c.system)
            // What the model generates: the answer, then the token it stops on (EOS, or the template's suffix).
            let stop =
                template.suffixAsEOS
                ? try XCTUnwrap(tokenizer.id(for: template.suffix), name) : try XCTUnwrap(tokenizer.eosTokenId)
            for (k, turn) in c.turns.enumerated() {
                try session.record(turn[0], answerIds: tokenizer.encodeWithoutSpecialTokens(turn[1]) + [stop])
                let got = session.history, want = c.input_ids[k]
                if got != want {
                    let at =
                        zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                        ?? min(got.count, want.count)
                    XCTFail(
                        "\(name): after \(k + 1) turns, ids differ at \(at) of \(want.count): got "
                            + "\(got[max(0, at - 3)..<min(got.count, at + 6)]), want \(want[max(0, at - 3)..<min(want.count, at + 6)])"
                    )
                }
            }
        }
    }
}
