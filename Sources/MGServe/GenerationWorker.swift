import Foundation
import MGLLaVA
import MGTensor

/// What the worker reports about one request, in order: `accepted` (or `failed` before any compute), `text`
/// pieces, then `finished` (or `failed`).
public enum GenerationEvent: Sendable {
    /// The prompt fits and generation starts: positions it fills (text + visual tokens).
    case accepted(promptTokens: Int)
    case text(String)
    case finished(GenerationResult)
    case failed(APIError)
}

/// A finished answer.
public struct GenerationResult: Sendable {
    /// The answer, trimmed of spaces at both ends, cut before a stop string.
    public var text: String
    /// "stop" (EOS, the template's stop word, a request stop string) or "length".
    public var finishReason: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var timings: ChatSession.Timings
    /// The boxes the answer used, in original-image pixels: given, detected, or none (the dummy box).
    public var boxes: [[Double]]
    public var boxSource: String
}

/// One request waiting for, or running on, the worker. `cancel()` (a client gone) stops it within one token.
public final class GenerationJob: @unchecked Sendable {
    let request: ChatCompletionRequest
    /// The request's image, decoded; its boxes, checked against it.
    let image: RGBImage?
    let boxes: BoxRecord?
    let continuation: AsyncStream<GenerationEvent>.Continuation
    private let lock = NSLock()
    private var cancelled = false

    init(
        request: ChatCompletionRequest, image: RGBImage?, boxes: BoxRecord?,
        continuation: AsyncStream<GenerationEvent>.Continuation
    ) {
        self.request = request
        self.image = image
        self.boxes = boxes
        self.continuation = continuation
    }

    public func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }
}

/// One model, one compute thread, a FIFO queue: requests are answered one at a time on a dedicated thread (the
/// HTTP side only waits on events), at most `maxQueue` waiting; the model loads on the same thread first.
public final class GenerationWorker: @unchecked Sendable {
    /// Whether the model is loading, ready, or failed to load (`/health`).
    public enum State: Equatable, Sendable {
        case loading
        case ready
        case failed(String)
    }

    /// Requests that may wait while one runs; more are refused (503).
    public let maxQueue: Int
    /// `max_tokens` when a request gives none, and the most a request may ask for.
    public let defaultMaxTokens: Int
    /// The only folder `file://` images may come from.
    public let mediaPath: URL?

    private let condition = NSCondition()
    private var queue: [GenerationJob] = []
    private var running = false
    private var currentState = State.loading
    private var pipeline: InferencePipeline?
    private var lastSummary: RunSummary?
    /// Seconds to wait after each generated token (tests use it to keep an answer running long enough to watch).
    var delayPerToken: Double = 0

    /// How the last answered request ended (for tests and logs).
    public struct RunSummary: Sendable, CustomStringConvertible {
        public var generatedTokens: Int
        /// Its client went away (or a stop string ended it) before the answer was complete.
        public var cancelled: Bool
        public var description: String { "\(generatedTokens) tokens, cancelled: \(cancelled)" }
    }

    public var lastRun: RunSummary? {
        condition.lock()
        defer { condition.unlock() }
        return lastSummary
    }

    /// A request is running.
    public var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running
    }

    public init(maxQueue: Int, defaultMaxTokens: Int = 512, mediaPath: URL? = nil) {
        self.maxQueue = maxQueue
        self.defaultMaxTokens = defaultMaxTokens
        self.mediaPath = mediaPath
    }

    public var state: State {
        condition.lock()
        defer { condition.unlock() }
        return currentState
    }

    /// Requests waiting (not counting the one running).
    public var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Starts the compute thread: `load` runs on it first, then requests, until the process ends.
    public func start(load: @escaping () throws -> InferencePipeline) {
        let thread = Thread { [self] in
            do {
                let loaded = try load()
                condition.lock()
                pipeline = loaded
                currentState = .ready
                condition.unlock()
            } catch {
                condition.lock()
                currentState = .failed("\(error)")
                let pending = queue
                queue.removeAll()
                condition.unlock()
                for job in pending {
                    job.continuation.yield(.failed(.server("the model failed to load: \(error)")))
                    job.continuation.finish()
                }
                return
            }
            serve()
        }
        thread.name = "mgllava-generation"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// The request's image decoded and its boxes checked (400s), on the caller's thread, so that a bad image never
    /// takes a place in the queue and a good one is decoded off the compute thread.
    public func prepare(_ request: ChatCompletionRequest) throws -> (image: RGBImage?, boxes: BoxRecord?) {
        do {
            guard let source = request.image else { return (nil, nil) }
            let image = try Self.decode(source)
            guard let given = request.boxes, !given.isEmpty else { return (image, nil) }
            let manual = try BoxRecord.manual(given)
            if let outside = manual.boxesOutside(width: image.width, height: image.height).first {
                throw APIError.badRequest(
                    "boxes[\(outside)]: \(given[outside]) lies entirely outside the \(image.width)×\(image.height) image"
                )
            }
            return (image, manual)
        } catch let error as ImageDecodingError {
            throw APIError.badRequest("image: \(error.description)")
        } catch let error as BoxRecordError {
            throw APIError.badRequest("boxes: \(error.description)")
        }
    }

    /// Queues a request (its image and boxes from `prepare`). Throws 503 while the model loads or when the queue
    /// is full.
    public func submit(
        _ request: ChatCompletionRequest, image: RGBImage?, boxes: BoxRecord?
    ) throws -> (
        GenerationJob, AsyncStream<GenerationEvent>
    ) {
        condition.lock()
        defer { condition.unlock() }
        switch currentState {
        case .loading: throw APIError.unavailable("the model is loading", retryAfter: 5)
        case .failed(let why): throw APIError.server("the model failed to load: \(why)")
        case .ready: break
        }
        if queue.count >= maxQueue && (running || queue.count > 0) {
            throw APIError.unavailable(
                "the server is busy: \(queue.count) requests are waiting (--max-queue \(maxQueue))", retryAfter: 10)
        }
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream(bufferingPolicy: .unbounded)
        let job = GenerationJob(request: request, image: image, boxes: boxes, continuation: continuation)
        queue.append(job)
        condition.signal()
        return (job, stream)
    }

    private func serve() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let job = queue.removeFirst()
            running = true
            let model = pipeline
            condition.unlock()
            if let model, !job.isCancelled { run(job, on: model) }
            job.continuation.finish()
            condition.lock()
            running = false
            condition.unlock()
        }
    }

    private func run(_ job: GenerationJob, on pipeline: InferencePipeline) {
        let request = job.request
        let events = job.continuation
        do {
            try withNoGrad {
                let image = job.image
                var record = job.boxes
                var source = record == nil ? "none" : "given"
                if let image, record == nil, pipeline.detector != nil {
                    record = try pipeline.detectBoxes(in: image)
                    source = "detected"
                }
                let session = try pipeline.chat(about: image, boxes: record, system: request.system)
                let turns = request.turns
                for i in stride(from: 0, to: turns.count - 1, by: 2) {
                    try session.record(
                        turns[i].text, answerIds: pipeline.tokenizer.encodeWithoutSpecialTokens(turns[i + 1].text))
                }
                let question = turns[turns.count - 1].text
                let positions = try session.positionsNeeded(for: question)
                events.yield(.accepted(promptTokens: positions))
                var matcher = StopStringMatcher(request.stop)
                let sampling = SamplingConfig(
                    temperature: request.temperature ?? 0, topK: request.topK ?? 0, topP: request.topP ?? 1,
                    seed: request.seed ?? 0)
                let reply = try session.send(
                    question, maxNewTokens: min(request.maxTokens ?? defaultMaxTokens, defaultMaxTokens),
                    sampling: sampling,
                    onText: { delta in
                        // A plain request waits for the whole answer: no event (and no wake-up) per token.
                        let shown = matcher.feed(delta)
                        if request.stream && !shown.isEmpty { events.yield(.text(shown)) }
                    },
                    shouldContinue: {
                        if delayPerToken > 0 { Thread.sleep(forTimeInterval: delayPerToken) }
                        return !matcher.stopped && !job.isCancelled
                    })
                if !matcher.stopped {
                    let rest = matcher.flush()
                    if request.stream && !rest.isEmpty { events.yield(.text(rest)) }
                }
                condition.lock()
                lastSummary = RunSummary(
                    generatedTokens: reply.ids.count, cancelled: reply.finishReason == .cancelled)
                condition.unlock()
                let used = session.visual.map { $0.usedDummyBox ? [] : record?.boxes ?? [] } ?? []
                events.yield(
                    .finished(
                        GenerationResult(
                            text: matcher.stopped
                                ? matcher.answer.trimmingCharacters(in: .whitespaces) : reply.text,
                            finishReason: reply.finishReason == .length ? "length" : "stop",
                            promptTokens: reply.timings.promptTokens, completionTokens: reply.ids.count,
                            timings: reply.timings, boxes: used, boxSource: used.isEmpty ? "none" : source)))
            }
        } catch let error as APIError {
            events.yield(.failed(error))
        } catch let error as ChatSession.ChatError {
            events.yield(.failed(.badRequest(error.description)))
        } catch let error as ImageDecodingError {
            events.yield(.failed(.badRequest("image: \(error.description)")))
        } catch let error as BoxRecordError {
            events.yield(.failed(.badRequest("boxes: \(error.description)")))
        } catch {
            events.yield(.failed(.server("\(error)")))
        }
    }

    private static func decode(_ source: ChatCompletionRequest.ImageSource) throws -> RGBImage {
        switch source {
        case .base64(let text): return try ImageDecoder.decode(base64: text, source: "image_url")
        case .file(let url): return try ImageDecoder.decode(contentsOf: url)
        }
    }
}
