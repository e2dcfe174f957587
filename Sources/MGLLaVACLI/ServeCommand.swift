import ArgumentParser
import Foundation
import MGLLaVA
import MGServe

/// `mgllava serve`: the OpenAI-compatible server (`MGServe.ChatServer`) with `chat`'s model flags.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve MG-LLaVA over HTTP: OpenAI's /v1/chat/completions (images as data: URIs, SSE streaming), "
            + "/v1/models, /health, and a web page at /.")

    @OptionGroup var model: ModelFlags
    @Option(help: "Prompt template: \(PromptTemplate.all.map(\.name).joined(separator: ", ")).") var template: String =
        "vicuna"
    @Option(help: "Side of the high-resolution input (upstream: 768).") var imageSizeAux: Int = 768
    @OptionGroup(title: "Boxes made by a detector for requests that give none") var detection: DetectorOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port (0: any free port; the one chosen is printed).") var port: Int = 8080
    @Option(help: "Require `Authorization: Bearer KEY` on /v1 endpoints.") var apiKey: String?
    @Option(help: "Requests that may wait while one is answered; more get 503.") var maxQueue: Int = 8
    @Option(help: "Largest request body, in MiB.") var maxBodyMb: Int = 32
    @Option(help: "Folder that file:// image URLs may point into (none: file:// is refused).") var mediaPath: String?
    @Option(help: "Model id reported by /v1/models and in responses.") var alias: String = "mg-llava"
    @Option(help: "max_tokens when a request gives none, and the most a request may ask for.") var maxTokens: Int = 512
    @Option(
        help: ArgumentHelp(
            "Products with 16-bit weights (as chat's --bf16-kernel).", valueName: "split|bf16|f32"))
    var bf16Kernel: String?

    func validate() throws {
        guard PromptTemplate.named(template) != nil else {
            throw ValidationError(
                "unknown template \"\(template)\" (known: \(PromptTemplate.all.map(\.name).joined(separator: ", ")))")
        }
        if !(0...65535).contains(port) { throw ValidationError("--port \(port): must be in 0…65535") }
        if maxQueue < 0 { throw ValidationError("--max-queue \(maxQueue): must be ≥ 0") }
        if maxBodyMb <= 0 { throw ValidationError("--max-body-mb \(maxBodyMb): must be positive") }
        if maxTokens <= 0 { throw ValidationError("--max-tokens \(maxTokens): must be positive") }
        if imageSizeAux <= 0 { throw ValidationError("--image-size-aux \(imageSizeAux): must be positive") }
        if let mediaPath {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: mediaPath, isDirectory: &isDirectory), isDirectory.boolValue
            else { throw ValidationError("--media-path \(mediaPath): not a folder") }
        }
    }

    func run() async throws {
        if let bf16Kernel { HalfPrecision.kernel = try HalfPrecisionKernel(flag: bf16Kernel) }
        // The detector (small) loads first, so a bad folder is reported before anything listens.
        let detector = try detection.loadDetector()?.detector
        let queries = detector != nil ? try detection.detectionQueries() : nil
        let worker = GenerationWorker(
            maxQueue: maxQueue, defaultMaxTokens: maxTokens, mediaPath: mediaPath.map { URL(fileURLWithPath: $0) })
        let (model, template, imageSizeAux) = (model, PromptTemplate.named(template) ?? .vicuna, imageSizeAux)
        worker.start {
            let pipeline = try model.loadPipeline(template: template, imageSizeAux: imageSizeAux)
            if let detector, let queries {
                pipeline.detector = detector
                pipeline.detectionQueries = queries
            }
            FileHandle.standardError.write(Data("model loaded\n".utf8))
            return pipeline
        }
        var configuration = ChatServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.apiKey = apiKey
        configuration.maxQueue = maxQueue
        configuration.maxBodyBytes = maxBodyMb << 20
        configuration.modelID = alias
        let host = host
        let server = ChatServer(configuration: configuration, worker: worker)
        try await server.run(gracefulShutdown: true) { port in
            print("listening on http://\(host):\(port)")
            fflush(stdout)
        }
    }
}
