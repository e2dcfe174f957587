import Foundation
import XCTest

@testable import MGServe
import MGLLaVA
import MGTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `mgllava serve`'s server on the tiny fixture stack, on a free port, through real HTTP: every endpoint, the
/// answer equal to the library's chat (what `mgllava chat` prints), streaming, errors, the queue and cancellation.
final class ChatServerTests: XCTestCase {
    /// One server for the whole class (the model loads once).
    static var shared: (server: ChatServer, port: Int, task: Task<Void, Error>)?
    static let apiKey = "test-key"

    static func pipeline() throws -> InferencePipeline {
        try InferencePipeline.load(
            llm: Fixtures.url("models/vicuna-tiny"), visualEncoder: Fixtures.url("models/clip-vit-tiny"),
            visualEncoderAux: Fixtures.url("models/convnext-tiny"),
            pth: Fixtures.url("models/mgllava-tiny/sft.pth"),
            tokenizer: Fixtures.url("tokenizers/vicuna-tiny"), imageSizeAux: 128)
    }

    /// Starts a server (`maxQueue` waiting requests) and waits until it listens and its model is ready.
    static func start(
        maxQueue: Int = 4, maxBodyBytes: Int = 4 << 20, apiKey: String? = nil, delayPerToken: Double = 0,
        idleTimeout: Int64 = 30, mediaPath: URL? = nil, detector: Bool = false, tagger: Bool = false
    ) async throws -> (ChatServer, Int, Task<Void, Error>) {
        let worker = GenerationWorker(maxQueue: maxQueue, defaultMaxTokens: 400, mediaPath: mediaPath)
        worker.delayPerToken = delayPerToken
        worker.start {
            let loaded = try pipeline()
            if detector {
                let owl = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
                // With `tagger`, RAM++ chooses each image's tags (upstream's pipeline, `serve --tagger`).
                loaded.detector =
                    tagger
                    ? TaggedBoxDetector(
                        tagger: try RAMPlusTagger.load(Fixtures.url("ram/ram-plus-tiny")), detector: owl)
                    : owl
                loaded.detectionQueries = detectionQueries
            }
            return loaded
        }
        var configuration = ChatServer.Configuration()
        configuration.port = 0
        configuration.apiKey = apiKey
        configuration.maxBodyBytes = maxBodyBytes
        configuration.pingSeconds = 0.2
        configuration.logLevel = .critical
        configuration.idleTimeoutSeconds = idleTimeout
        let server = ChatServer(configuration: configuration, worker: worker)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { sink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw XCTSkip("the server did not start") }
        for _ in 0..<600 where worker.state == .loading { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertEqual(worker.state, .ready)
        return (server, port, task)
    }

    func server() async throws -> (ChatServer, Int) {
        if let shared = Self.shared { return (shared.server, shared.port) }
        let (server, port, task) = try await Self.start(apiKey: Self.apiKey)
        Self.shared = (server, port, task)
        return (server, port)
    }

    // MARK: - HTTP helpers

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func send(
        _ method: String, _ path: String, port: Int, body: Data? = nil, key: String? = ChatServerTests.apiKey
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 120
        if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields { headers["\(k)".lowercased()] = "\(v)" }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    func chat(_ object: [String: Any], port: Int, key: String? = ChatServerTests.apiKey) async throws -> Reply {
        try await send(
            "POST", "/v1/chat/completions", port: port, body: try JSONSerialization.data(withJSONObject: object),
            key: key)
    }

    static let detectionQueries = DetectionQueries(tags: ["person", "suit", "tie"], threshold: 0.5)

    static let question =
        "Look at the suit.\nWhat colour is the suit?\nA. white\nB. red\nC. green\nD. black\n"
        + "Answer with the option's letter from the given choices directly."

    static func photoURI() throws -> String {
        "data:image/jpeg;base64," + (try Data(contentsOf: Fixtures.url("preprocess/photo0.jpg"))).base64EncodedString()
    }

    /// The fixture's case0 boxes that overlap the photo (given by hand, a box wholly outside is refused, as
    /// `chat --box` refuses it).
    static func caseBoxes() throws -> BoxRecord {
        let records = try BoxRecord.decodeFile(Data(contentsOf: Fixtures.url("preprocess/boxes.json")))
        let record = try XCTUnwrap(records.first { $0.id.key == "case0" })
        let outside = Set(record.boxesOutside(width: 301, height: 207))
        return try BoxRecord.manual(record.boxes.indices.filter { !outside.contains($0) }.map { record.boxes[$0] })
    }

    /// The request the tests ask: the fixture photo, its case0 boxes, the MMBench-style question.
    static func photoRequest(maxTokens: Int = 16, stream: Bool = false, imageLast: Bool = false) throws -> [String: Any]
    {
        let parts: [[String: Any]] = [
            ["type": "image_url", "image_url": ["url": try photoURI()]], ["type": "text", "text": question]
        ]
        return [
            "model": "mg-llava", "max_tokens": maxTokens, "stream": stream, "boxes": try caseBoxes().boxes,
            "messages": [["role": "user", "content": imageLast ? parts.reversed() : parts]]
        ]
    }

    /// What the library's chat answers (the text `mgllava chat --box …` prints).
    static func libraryAnswer(maxTokens: Int = 16) throws -> String {
        let pipeline = try pipeline()
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let boxes = try BoxRecord.manual(try caseBoxes().boxes)
        let session = try pipeline.chat(about: image, boxes: boxes)
        return try withNoGrad { try session.send(question, maxNewTokens: maxTokens, sampling: .greedy) }.text
    }

    // MARK: - Tests

    func testHealthModelsAndThePage() async throws {
        let (_, port) = try await server()
        let health = try await send("GET", "/health", port: port, key: nil)
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "ok")
        let models = try await send("GET", "/v1/models", port: port)
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual(models.json["object"] as? String, "list")
        let data = try XCTUnwrap(models.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.first?["id"] as? String, "mg-llava")
        XCTAssertEqual(data.first?["owned_by"] as? String, "mgllava")
        let page = try await send("GET", "/", port: port, key: nil)
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") ?? false)
    }

    func testAnswerEqualsTheLibraryChatWhereverTheImagePartIs() async throws {
        let (_, port) = try await server()
        let expected = try Self.libraryAnswer()
        for imageLast in [false, true] {
            let reply = try await chat(try Self.photoRequest(imageLast: imageLast), port: port)
            XCTAssertEqual(reply.status, 200, reply.text)
            XCTAssertEqual(reply.json["object"] as? String, "chat.completion")
            let choice = try XCTUnwrap((reply.json["choices"] as? [[String: Any]])?.first)
            let message = try XCTUnwrap(choice["message"] as? [String: Any])
            XCTAssertEqual(message["role"] as? String, "assistant")
            XCTAssertEqual(message["content"] as? String, expected, "image part last: \(imageLast)")
            XCTAssertEqual(choice["finish_reason"] as? String, "length")
            let usage = try XCTUnwrap(reply.json["usage"] as? [String: Any])
            XCTAssertEqual(usage["completion_tokens"] as? Int, 16)
            let timings = try XCTUnwrap(reply.json["timings"] as? [String: Any])
            XCTAssertEqual(timings["predicted_n"] as? Int, 15)
            XCTAssertEqual(timings["prompt_n"] as? Int, usage["prompt_tokens"] as? Int)
            XCTAssertNotNil(timings["predicted_per_second"] as? Double)
        }
    }

    func testStreamedDeltasMakeTheSameAnswer() async throws {
        let (_, port) = try await server()
        let expected = try Self.libraryAnswer()
        let reply = try await chat(try Self.photoRequest(stream: true), port: port)
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.headers["content-type"], "text/event-stream")
        let events = reply.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.last, "data: [DONE]")
        var text = "", reasons: [String] = []
        for event in events.dropLast() where event.hasPrefix("data: ") {
            let object = try XCTUnwrap(
                try JSONSerialization.jsonObject(with: Data(event.dropFirst(6).utf8)) as? [String: Any])
            XCTAssertEqual(object["object"] as? String, "chat.completion.chunk")
            let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
            text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
            if let reason = choice["finish_reason"] as? String { reasons.append(reason) }
        }
        XCTAssertEqual(text.trimmingCharacters(in: .whitespaces), expected)
        XCTAssertEqual(reasons, ["length"])
    }

    func testStopStringsEndTheAnswerBeforeThem() async throws {
        let (_, port) = try await server()
        let full = try Self.libraryAnswer()
        let words = full.split(separator: " ")
        guard words.count > 2 else { throw XCTSkip("the fixture answer has too few words: \(full)") }
        let stop = String(words[2])
        var request = try Self.photoRequest()
        request["stop"] = [stop, "zzzz-never"]
        let reply = try await chat(request, port: port)
        let choice = try XCTUnwrap((reply.json["choices"] as? [[String: Any]])?.first)
        let content = try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
        let cut = try XCTUnwrap(full.range(of: stop))
        XCTAssertEqual(content, String(full[..<cut.lowerBound]).trimmingCharacters(in: .whitespaces))
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
    }

    func testBadRequestsGetNamedJSONErrors() async throws {
        let (_, port) = try await server()
        func check(_ body: Data, _ status: Int, _ fragment: String, line: UInt = #line) async throws {
            let reply = try await send("POST", "/v1/chat/completions", port: port, body: body)
            XCTAssertEqual(reply.status, status, reply.text, line: line)
            let error = reply.json["error"] as? [String: Any]
            XCTAssertEqual(error?["code"] as? Int, status, line: line)
            XCTAssertNotNil(error?["type"] as? String, line: line)
            XCTAssertTrue((error?["message"] as? String ?? "").contains(fragment), reply.text, line: line)
        }
        func json(_ object: Any) throws -> Data { try JSONSerialization.data(withJSONObject: object) }
        try await check(Data("{\"messages\": [".utf8), 400, "not valid JSON")
        try await check(try json(["model": "x"]), 400, "messages: required")
        try await check(try json(["messages": []]), 400, "non-empty")
        try await check(try json(["messages": [["role": "tool", "content": "x"]]]), 400, "unknown role \"tool\"")
        try await check(try json(["messages": [["role": "user", "content": 3]]]), 400, "messages[0].content")
        try await check(
            try json(["messages": [["role": "user", "content": "hi"]], "temperature": "hot"]), 400, "temperature")
        try await check(try json(["messages": [["role": "user", "content": "hi"]], "max_tokens": 0]), 400, "max_tokens")
        let web: [String: Any] = [
            "messages": [
                ["role": "user", "content": [["type": "image_url", "image_url": ["url": "https://x.org/a.jpg"]]]]
            ]
        ]
        try await check(try json(web), 400, "fetches nothing")
        let uri = try Self.photoURI()
        let two: [String: Any] = [
            "messages": [
                ["role": "user", "content": [["type": "image_url", "image_url": ["url": uri]]]],
                ["role": "assistant", "content": "ok"],
                ["role": "user", "content": [["type": "image_url", "image_url": ["url": uri]]]]
            ]
        ]
        try await check(try json(two), 400, "messages[2]")
        let notBase64: [String: Any] = [
            "messages": [
                ["role": "user", "content": [["type": "image_url", "image_url": ["url": "data:image/png;base64,@@@@"]]]]
            ]
        ]
        try await check(try json(notBase64), 400, "image")
        let notAnImage: [String: Any] = [
            "messages": [
                [
                    "role": "user",
                    "content": [
                        ["type": "image_url", "image_url": ["url": Data("hello there".utf8).base64EncodedString()]]
                    ]
                ]
            ]
        ]
        try await check(try json(notAnImage), 400, "image")
        let long = String(repeating: "word ", count: 5000)
        try await check(try json(["messages": [["role": "user", "content": long]]]), 400, "context")
        try await check(Data(repeating: 0x20, count: 5 << 20), 413, "limit")
        var outside = try Self.photoRequest()
        outside["boxes"] = [[10, 10, 50, 50], [400, 300, 500, 400]]
        try await check(try json(outside), 400, "boxes[1]")
        let notFound = try await send("GET", "/v1/nothing", port: port)
        XCTAssertEqual(notFound.status, 404)
        XCTAssertEqual((notFound.json["error"] as? [String: Any])?["code"] as? Int, 404)
        let noKey = try await send("GET", "/v1/models", port: port, key: nil)
        XCTAssertEqual(noKey.status, 401)
        let wrongKey = try await send("GET", "/v1/models", port: port, key: "nope")
        XCTAssertEqual(wrongKey.status, 401)
        // The server still answers.
        let health = try await send("GET", "/health", port: port, key: nil)
        XCTAssertEqual(health.status, 200)
    }

    func testHealthIs503WhileLoading() async throws {
        let worker = GenerationWorker(maxQueue: 1)  // never started: loading
        var configuration = ChatServer.Configuration()
        configuration.port = 0
        configuration.logLevel = .critical
        let server = ChatServer(configuration: configuration, worker: worker)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { sink.yield($0) } }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let next = await iterator.next()
        let port = try XCTUnwrap(next)
        let health = try await send("GET", "/health", port: port, key: nil)
        XCTAssertEqual(health.status, 503)
        XCTAssertEqual((health.json["error"] as? [String: Any])?["code"] as? Int, 503)
        let chat = try await chat(["messages": [["role": "user", "content": "hi"]]], port: port, key: nil)
        XCTAssertEqual(chat.status, 503)
        XCTAssertNotNil(chat.headers["retry-after"])
    }
}
