import Foundation
import Hummingbird
import Logging
import MGLLaVA
import NIOCore

/// `mgllava serve`: an OpenAI-compatible HTTP server (llama.cpp's `llama-server` wire format) around one
/// MG-LLaVA model, built on Hummingbird. Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions`
/// (plain or streamed as server-sent events), `GET /` (the web page). Requests run one at a time on the
/// `GenerationWorker`'s thread; the HTTP side only waits on its events.
public final class ChatServer: @unchecked Sendable {
    /// What `mgllava serve`'s flags set: address, key, queue and body limits, the model's id.
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// 0: any free port (`run`'s `onListening` gets the one chosen).
        public var port = 8080
        /// `Authorization: Bearer` key the `/v1` endpoints require (nil: none).
        public var apiKey: String?
        public var maxQueue = 8
        public var maxBodyBytes = 32 << 20
        /// The model's id in `/v1/models` and in responses.
        public var modelID = "mg-llava"
        /// A connection that sends nothing for this long while its request is incomplete is closed.
        public var idleTimeoutSeconds: Int64 = 30
        /// Seconds between `: ping` comments on a stream that has nothing else to send (a long prefill).
        public var pingSeconds: Double = 15
        /// The HTTP stack's own log messages (connection errors …) at or above this level go to standard error.
        public var logLevel = Logger.Level.warning

        public init() {}
    }

    public let configuration: Configuration
    public let worker: GenerationWorker
    private let created = Int(Date().timeIntervalSince1970)

    public init(configuration: Configuration, worker: GenerationWorker) {
        self.configuration = configuration
        self.worker = worker
    }

    /// Serves until the task is cancelled (or, with `gracefulShutdown`, SIGINT/SIGTERM: requests in flight finish
    /// first). `onListening` gets the bound port once connections are accepted.
    public func run(
        gracefulShutdown: Bool = false, onListening: @escaping @Sendable (Int) -> Void = { _ in }
    )
        async throws
    {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AuthMiddleware(apiKey: configuration.apiKey))
        router.get("/health") { _, _ in try self.health() }
        router.get("/v1/models") { _, _ in self.models() }
        router.get("/") { _, _ in Self.page() }
        router.post("/v1/chat/completions") { request, context in try await self.chatCompletions(request, context) }
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(configuration.idleTimeoutSeconds))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "mgllava"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) },
            logger: {
                var logger = Logger(label: "mgllava-serve")
                logger.logLevel = configuration.logLevel
                return logger
            }())
        try await app.runService(gracefulShutdownSignals: gracefulShutdown ? [.sigterm, .sigint] : [])
    }

    // MARK: - Endpoints

    func health() throws -> Response {
        switch worker.state {
        case .ready: return Self.json(["status": "ok"])
        case .loading: throw APIError.unavailable("the model is loading", retryAfter: 5)
        case .failed(let why): throw APIError.server("the model failed to load: \(why)")
        }
    }

    func models() -> Response {
        Self.json([
            "object": "list",
            "data": [["id": configuration.modelID, "object": "model", "created": created, "owned_by": "mgllava"]]
        ])
    }

    static func page() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
    }

    func chatCompletions(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let holder = JobHolder()
        // The whole exchange runs inside the inbound-close handler, so a client that goes away while its answer
        // is computed (not streamed) cancels it; a streamed answer notices at its next write.
        return try await request.body.consumeWithInboundCloseHandler { body in
            let bytes: ByteBuffer
            do {
                bytes = try await body.collect(upTo: self.configuration.maxBodyBytes)
            } catch is NIOTooManyBytesError {
                throw APIError.tooLarge(limit: self.configuration.maxBodyBytes)
            }
            let parsed = try ChatCompletionRequest.parse(Data(buffer: bytes), mediaPath: self.worker.mediaPath)
            let (image, boxes) = try self.worker.prepare(parsed)
            let (job, events) = try self.worker.submit(parsed, image: image, boxes: boxes)
            holder.set(job)
            var iterator = events.makeAsyncIterator()
            // Nothing is sent before the worker accepts the prompt, so its errors keep their status (400 …).
            guard let first = await iterator.next() else { throw APIError.server("the request was dropped") }
            switch first {
            case .accepted: break
            case .failed(let error): throw error
            default: throw APIError.server("unexpected event before the prompt was accepted")
            }
            let id = "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            if parsed.stream {
                // From here the stream's writes notice a client that went away (the close handler ends with
                // this operation).
                holder.detach()
                return self.streamed(id: id, job: job, iterator: iterator, includeUsage: parsed.includeUsage)
            }
            var result: GenerationResult? = nil
            while let event = await iterator.next() {
                switch event {
                case .finished(let r): result = r
                case .failed(let error): throw error
                default: break
                }
            }
            guard let result else { throw APIError.server("the answer was cancelled") }
            return Self.json(self.completion(id: id, result))
        } onInboundClosed: {
            holder.cancel()
        }
    }

    // MARK: - Responses

    func completion(id: String, _ r: GenerationResult) -> [String: Any] {
        [
            "id": id, "object": "chat.completion", "created": Int(Date().timeIntervalSince1970),
            "model": configuration.modelID,
            "choices": [
                [
                    "index": 0, "message": ["role": "assistant", "content": r.text],
                    "finish_reason": r.finishReason
                ]
            ],
            "usage": Self.usage(r), "timings": Self.timings(r), "boxes": ["source": r.boxSource, "boxes": r.boxes]
        ]
    }

    func chunk(id: String, delta: [String: Any], finishReason: String?) -> [String: Any] {
        [
            "id": id, "object": "chat.completion.chunk", "created": Int(Date().timeIntervalSince1970),
            "model": configuration.modelID,
            "choices": [["index": 0, "delta": delta, "finish_reason": finishReason.map { $0 as Any } ?? NSNull()]]
        ]
    }

    static func usage(_ r: GenerationResult) -> [String: Any] {
        [
            "prompt_tokens": r.promptTokens, "completion_tokens": r.completionTokens,
            "total_tokens": r.promptTokens + r.completionTokens
        ]
    }

    /// llama.cpp's `timings` object (prompt = the prefill, predicted = the tokens after the first).
    static func timings(_ r: GenerationResult) -> [String: Any] {
        let t = r.timings
        return [
            "prompt_n": t.promptTokens, "prompt_ms": t.prefillSeconds * 1000,
            "prompt_per_second": Double(t.promptTokens) / max(t.prefillSeconds, 1e-9),
            "predicted_n": t.decodedTokens, "predicted_ms": t.decodeSeconds * 1000,
            "predicted_per_second": Double(t.decodedTokens) / max(t.decodeSeconds, 1e-9),
            "visual_ms": t.visualSeconds * 1000
        ]
    }

    /// `text/event-stream`: a role chunk, content deltas, a last chunk with `finish_reason` (and `usage`,
    /// `timings`), `data: [DONE]`; `: ping` comments while nothing else is ready.
    func streamed(
        id: String, job: GenerationJob, iterator: AsyncStream<GenerationEvent>.Iterator, includeUsage: Bool
    ) -> Response {
        let pingSeconds = configuration.pingSeconds
        let body = ResponseBody { writer in
            // Events and pings merge into one stream the writer alone consumes.
            let (merged, sink) = AsyncStream<StreamItem>.makeStream(bufferingPolicy: .unbounded)
            let pump = Task {
                var events = iterator
                while let event = await events.next() { sink.yield(.event(event)) }
                sink.finish()
            }
            let pinger = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(pingSeconds * 1e9))
                    if !Task.isCancelled { sink.yield(.ping) }
                }
            }
            defer {
                pinger.cancel()
                pump.cancel()
            }
            do {
                try await writer.write(
                    Self.event(self.chunk(id: id, delta: ["role": "assistant", "content": ""], finishReason: nil)))
                for await item in merged {
                    switch item {
                    case .ping:
                        try await writer.write(ByteBuffer(string: ": ping\n\n"))
                    case .event(.text(let text)):
                        try await writer.write(
                            Self.event(self.chunk(id: id, delta: ["content": text], finishReason: nil)))
                    case .event(.finished(let r)):
                        var last = self.chunk(id: id, delta: [:], finishReason: r.finishReason)
                        last["timings"] = Self.timings(r)
                        last["boxes"] = ["source": r.boxSource, "boxes": r.boxes]
                        if includeUsage { last["usage"] = Self.usage(r) }
                        try await writer.write(Self.event(last))
                    case .event(.failed(let error)):
                        try await writer.write(
                            Self.event(["error": ["code": error.status, "message": error.message, "type": error.type]]))
                    case .event:
                        break
                    }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                job.cancel()
                throw error
            }
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
    }

    enum StreamItem: Sendable {
        case event(GenerationEvent)
        case ping
    }

    static func event(_ object: [String: Any]) -> ByteBuffer {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n")
    }

    static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The job of a request whose client may go away before the job exists.
final class JobHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var job: GenerationJob?
    private var cancelled = false
    private var detached = false

    func set(_ job: GenerationJob) {
        lock.lock()
        self.job = job
        let cancel = cancelled
        lock.unlock()
        if cancel { job.cancel() }
    }

    /// Stops cancelling: the job's fate no longer follows this holder.
    func detach() {
        lock.lock()
        job = nil
        detached = true
        lock.unlock()
    }

    func cancel() {
        lock.lock()
        if detached {
            lock.unlock()
            return
        }
        cancelled = true
        let job = self.job
        lock.unlock()
        job?.cancel()
    }
}

/// Every error as `{"error":{…}}` with its status: `APIError`s, Hummingbird's (404, 413 …), anything else 500.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.response(error)
        } catch let error as HTTPResponseError {
            let status = Int(error.status.code)
            let api: APIError
            switch status {
            case 404: api = .notFound(request.uri.path)
            case 413: api = APIError(status: 413, type: "invalid_request_error", message: "request body too large")
            case 405: api = APIError(status: 405, type: "invalid_request_error", message: "method not allowed")
            default:
                api = APIError(
                    status: status, type: status >= 500 ? "server_error" : "invalid_request_error", message: "\(error)")
            }
            return Self.response(api)
        } catch {
            return Self.response(.server("\(error)"))
        }
    }

    static func response(_ error: APIError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retry = error.retryAfter { headers[.retryAfter] = String(retry) }
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: error.body)))
    }
}

/// `Authorization: Bearer KEY` on `/v1/…` when the server has a key (the page and `/health` stay open).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        if let apiKey, request.uri.path.hasPrefix("/v1") {
            let given = request.headers[.authorization] ?? ""
            guard Array(given.utf8) == Array(("Bearer " + apiKey).utf8) else { throw APIError.unauthorized }
        }
        return try await next(request, context)
    }
}
