import Foundation
import XCTest

@testable import MGServe
import MGLLaVA
import MGTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The one-at-a-time worker seen from clients: a full queue answers 503 with Retry-After while a request runs,
/// and a client that goes away mid-answer stops its generation (within a token) instead of running to the end.
final class QueueAndCancelTests: XCTestCase {
    /// A bare HTTP/1.1 client on a socket, so that a test can read part of a streamed answer and hang up.
    final class RawClient {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { throw XCTSkip("cannot connect to 127.0.0.1:\(port)") }
        }

        func post(_ path: String, json: [String: Any]) throws {
            let body = try JSONSerialization.data(withJSONObject: json)
            let head =
                "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\n\r\n"
            let bytes = Array(head.utf8) + Array(body)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads until `marker` has arrived (or the peer closes); returns everything read.
        func read(until marker: String, timeout: TimeInterval = 120) -> String {
            var received = [UInt8]()
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received += buffer[0..<n]
                if String(decoding: received, as: UTF8.self).contains(marker) { break }
            }
            return String(decoding: received, as: UTF8.self)
        }

        func close() { _ = Glibc.close(fd) }
    }

    func testQueueFullIs503AndAHungUpStreamStopsGenerating() async throws {
        let (server, port, task) = try await ChatServerTests.start(maxQueue: 0, delayPerToken: 0.02)
        defer { task.cancel() }
        // A long streamed answer (no stop: EOS is not allowed to end it early only if the model never emits it,
        // so the check below is on tokens generated, not on the finish reason).
        let long: [String: Any] = [
            "max_tokens": 400, "stream": true, "messages": [["role": "user", "content": "Tell me a long story."]]
        ]
        let client = try RawClient(port: port)
        try client.post("/v1/chat/completions", json: long)
        let head = client.read(until: "\"content\":\"")
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200"), head)
        // Running, nothing may wait: the next request is refused at once.
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: ["messages": [["role": "user", "content": "hi"]]])
        let (body, response) = try await URLSession.shared.data(for: request)
        let http = try XCTUnwrap(response as? HTTPURLResponse)
        XCTAssertEqual(http.statusCode, 503, String(decoding: body, as: UTF8.self))
        XCTAssertNotNil(http.value(forHTTPHeaderField: "Retry-After"))
        // Hang up mid-answer: the worker stops within a token and is free again.
        client.close()
        var last: GenerationWorker.RunSummary? = nil
        for _ in 0..<1200 {
            last = server.worker.lastRun
            if last != nil && !server.worker.isBusy { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let summary = try XCTUnwrap(last)
        XCTAssertTrue(summary.cancelled, "the hung-up request ran to its end: \(summary)")
        XCTAssertLessThan(summary.generatedTokens, 400)
        XCTAssertFalse(server.worker.isBusy)
    }
}

/// The rest of the wire behaviour that needs a server of its own: pings on a slow stream, a plain (not streamed)
/// request whose client hangs up, a client that never finishes sending, `file://` images under `--media-path`, and an
/// image whose header claims 200 megapixels.
final class ServerEdgeTests: XCTestCase {
    func testPingsWhileNothingElseIsReady() async throws {
        let (_, port, task) = try await ChatServerTests.start(delayPerToken: 0.3)
        defer { task.cancel() }
        let client = try QueueAndCancelTests.RawClient(port: port)
        defer { client.close() }
        try client.post(
            "/v1/chat/completions",
            json: ["max_tokens": 4, "stream": true, "messages": [["role": "user", "content": "Hello"]]])
        let text = client.read(until: "data: [DONE]")
        XCTAssertTrue(text.contains("\n: ping\n\n"), text)
        XCTAssertTrue(text.contains("data: [DONE]"), text)
    }

    func testAPlainRequestWhoseClientHangsUpStops() async throws {
        let (server, port, task) = try await ChatServerTests.start(delayPerToken: 0.02)
        defer { task.cancel() }
        let client = try QueueAndCancelTests.RawClient(port: port)
        try client.post(
            "/v1/chat/completions", json: ["max_tokens": 400, "messages": [["role": "user", "content": "Hello"]]])
        for _ in 0..<200 where !server.worker.isBusy { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 300_000_000)
        client.close()
        var summary: GenerationWorker.RunSummary? = nil
        for _ in 0..<1200 {
            summary = server.worker.lastRun
            if summary != nil && !server.worker.isBusy { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        let last = try XCTUnwrap(summary)
        XCTAssertTrue(last.cancelled, "\(last)")
        XCTAssertLessThan(last.generatedTokens, 100, "\(last)")
    }

    func testAClientThatNeverFinishesSendingIsClosed() async throws {
        let (_, port, task) = try await ChatServerTests.start(idleTimeout: 1)
        defer { task.cancel() }
        let client = try QueueAndCancelTests.RawClient(port: port)
        defer { client.close() }
        let partial = Array("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess".utf8)
        _ = partial.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, 0) }
        let started = Date()
        _ = client.read(until: "never", timeout: 20)  // returns when the server closes the connection
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        // Others are still served.
        let (_, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
    }

    func testFileImagesOnlyUnderTheMediaFolder() async throws {
        let folder = Fixtures.url("preprocess")
        let (_, port, task) = try await ChatServerTests.start(mediaPath: folder)
        defer { task.cancel() }
        func ask(_ url: String) async throws -> (Int, String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")!)
            request.httpMethod = "POST"
            let content: [[String: Any]] = [
                ["type": "image_url", "image_url": ["url": url]], ["type": "text", "text": "What is it?"]
            ]
            request.httpBody = try JSONSerialization.data(
                withJSONObject: ["max_tokens": 2, "messages": [["role": "user", "content": content]]])
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let inside = try await ask(folder.appendingPathComponent("photo0.jpg").absoluteString)
        XCTAssertEqual(inside.0, 200, inside.1)
        let escape = try await ask(folder.appendingPathComponent("../models/vicuna-tiny/config.json").absoluteString)
        XCTAssertEqual(escape.0, 400, escape.1)
        XCTAssertTrue(escape.1.contains("outside the media folder"), escape.1)
    }

    func testAnImageClaiming200MegapixelsIsRefusedFromItsHeader() async throws {
        let (_, port, task) = try await ChatServerTests.start()
        defer { task.cancel() }
        // A PNG signature and an IHDR chunk for 20000 × 10000 pixels; no pixel data follows.
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        png += Array("IHDR".utf8)
        for v in [UInt32(20000), UInt32(10000)] { png += withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        png += [8, 2, 0, 0, 0, 0, 0, 0, 0]
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")!)
        request.httpMethod = "POST"
        let content: [[String: Any]] = [
            ["type": "image_url", "image_url": ["url": "data:image/png;base64," + Data(png).base64EncodedString()]]
        ]
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "messages": [["role": "user", "content": content]]
        ])
        let (data, response) = try await URLSession.shared.data(for: request)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 400, text)
        XCTAssertTrue(text.contains("20000") || text.contains("too large"), text)
    }
}

/// A server started with a detector makes the boxes for an image that comes without them, and the answer is the
/// library chat's with those boxes.
final class ServerDetectorTests: XCTestCase {
    func testTheDetectorMakesTheBoxesWhenARequestGivesNone() async throws {
        let detector = try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny"))
        try await checkDetectedBoxes(expectedBy: detector, tagger: false)
    }

    /// `serve --tagger`: RAM++ chooses the tags, as upstream's box generation does.
    func testTheTaggerChoosesTheTagsWhenARequestGivesNoBoxes() async throws {
        let detector = TaggedBoxDetector(
            tagger: try RAMPlusTagger.load(Fixtures.url("ram/ram-plus-tiny")),
            detector: try OWLv2Detector.load(directory: Fixtures.url("owlv2/owlv2-tiny")))
        try await checkDetectedBoxes(expectedBy: detector, tagger: true)
    }

    /// The server's answer to a request without boxes equals the library chat's with `detector`'s boxes.
    private func checkDetectedBoxes(expectedBy detector: any BoxDetector, tagger: Bool) async throws {
        let (_, port, task) = try await ChatServerTests.start(detector: true, tagger: tagger)
        defer { task.cancel() }
        let pipeline = try ChatServerTests.pipeline()
        let image = try ImageDecoder.decode(contentsOf: Fixtures.url("preprocess/photo0.jpg"))
        let found = BoxRecord(
            id: .string("image"), detections: try detector.detect(image, queries: ChatServerTests.detectionQueries))
        XCTAssertFalse(found.boxes.isEmpty)
        let session = try pipeline.chat(about: image, boxes: found)
        let expected = try withNoGrad {
            try session.send(ChatServerTests.question, maxNewTokens: 16, sampling: .greedy)
        }.text

        var request = try ChatServerTests.photoRequest()
        request["boxes"] = nil
        var urlRequest = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")!)
        urlRequest.httpMethod = "POST"
        urlRequest.httpBody = try JSONSerialization.data(withJSONObject: request)
        let (data, _) = try await URLSession.shared.data(for: urlRequest)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let boxes = try XCTUnwrap(json["boxes"] as? [String: Any], String(decoding: data, as: UTF8.self))
        XCTAssertEqual(boxes["source"] as? String, "detected")
        XCTAssertEqual((boxes["boxes"] as? [[Double]])?.count, found.boxes.count)
        let choice = try XCTUnwrap((json["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual((choice["message"] as? [String: Any])?["content"] as? String, expected)
    }
}
