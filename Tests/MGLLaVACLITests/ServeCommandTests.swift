import Foundation
import XCTest
import MGLLaVA
import MGTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `mgllava serve` as a user starts it: `--port 0` prints the port it listens on, `/health` turns 200 once the
/// model is loaded, and an answer through the server is the text `mgllava chat` prints for the same image, boxes,
/// question and sampling settings (seeded sampling, not only greedy).
final class ServeCommandTests: XCTestCase {
    let models = [
        "--llm", Fixtures.url("models/vicuna-tiny").path, "--visual-encoder", Fixtures.url("models/clip-vit-tiny").path,
        "--visual-encoder-aux", Fixtures.url("models/convnext-tiny").path, "--pth",
        Fixtures.url("models/mgllava-tiny/sft.pth").path, "--tokenizer", Fixtures.url("tokenizers/vicuna-tiny").path,
        "--image-size-aux", "128"
    ]
    let question = "What is in the picture?"
    let boxes = [[20.0, 30.0, 120.0, 150.0], [100, 40, 290, 200]]

    func testServedAnswerEqualsChat() throws {
        let chat = try runCLI(
            ["chat"] + models + [
                "--image", Fixtures.url("preprocess/photo0.jpg").path, "--box", "20,30,120,150", "--box",
                "100,40,290,200", "--temperature", "0.8", "--top-k", "40", "--seed", "7", "--max-new-tokens", "24",
                "--json", "--prompt", question
            ])
        XCTAssertEqual(chat.status, 0, chat.stderr)
        let expected = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(chat.stdout.utf8)) as? [String: Any])?["text"] as? String)

        let directory =
            Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
            ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
        let process = Process()
        process.executableURL = directory.appendingPathComponent("mgllava")
        process.arguments = ["serve"] + models + ["--port", "0", "--max-tokens", "64"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = Pipe()
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        // "listening on http://127.0.0.1:PORT"
        var printed = ""
        let deadline = Date().addingTimeInterval(120)
        while !printed.contains("\n") && Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            printed += String(decoding: data, as: UTF8.self)
        }
        let line = printed.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(line.hasPrefix("listening on http://127.0.0.1:"), printed)
        let base = try XCTUnwrap(line.components(separatedBy: "listening on ").last)

        @Sendable func get(_ path: String) async throws -> Int {
            let (_, response) = try await URLSession.shared.data(from: URL(string: base + path)!)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        }
        let photo = try Data(contentsOf: Fixtures.url("preprocess/photo0.jpg")).base64EncodedString()
        let body: [String: Any] = [
            "messages": [
                [
                    "role": "user",
                    "content": [
                        ["type": "text", "text": question],
                        ["type": "image_url", "image_url": ["url": "data:image/jpeg;base64," + photo]]
                    ]
                ]
            ],
            "boxes": boxes, "temperature": 0.8, "top_k": 40, "seed": 7, "max_tokens": 24
        ]
        let answer = try awaitResult {
            var status = 0
            for _ in 0..<600 {
                status = try await get("/health")
                if status == 200 { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            XCTAssertEqual(status, 200)
            var request = URLRequest(url: URL(string: base + "/v1/chat/completions")!)
            request.httpMethod = "POST"
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            let (data, _) = try await URLSession.shared.data(for: request)
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let choice = (object?["choices"] as? [[String: Any]])?.first
            return (choice?["message"] as? [String: Any])?["content"] as? String
                ?? String(decoding: data, as: UTF8.self)
        }
        XCTAssertEqual(answer, expected)
    }

    /// Runs async work from a synchronous test (the CLI helpers are synchronous).
    private func awaitResult<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.value = .success(try await work()) } catch { box.value = .failure(error) }
            done.signal()
        }
        done.wait()
        return try XCTUnwrap(box.value).get()
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var value: Result<T, Error>?
}
