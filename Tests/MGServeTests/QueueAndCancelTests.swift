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
