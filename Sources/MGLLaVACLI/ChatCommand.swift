import ArgumentParser
import Foundation
import MGData
import MGLLaVA

/// `mgllava chat`: talk to MG-LLaVA about an image — one-shot (`--prompt`) or interactive (reads messages from
/// standard input until EOF or "exit").
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Ask MG-LLaVA about an image, one-shot (--prompt) or interactively (messages on standard input).")

    @OptionGroup var model: ModelFlags
    @Option(help: "The image (JPEG or PNG).") var image: String?
    @Option(help: "One-shot message; without it, messages are read from standard input.") var prompt: String?
    @Option(help: "Box JSON (upstream format) holding this image's detections.") var boxes: String?
    @Option(help: "The image's id in --boxes.") var boxId: String?
    // unconditionalSingleValue: "-50,-50,-10,-10" is a value (negative coordinates are legal), not a flag.
    @Option(
        name: .customLong("box"), parsing: .unconditionalSingleValue,
        help: "A box x1,y1,x2,y2 in original image pixels (repeatable).") var box: [String] = []
    @OptionGroup(title: "Boxes made by a detector when neither --boxes nor --box is given") var detection:
        DetectorOptions
    @Option(help: "Prompt template: \(PromptTemplate.all.map(\.name).joined(separator: ", ")).") var template: String =
        "vicuna"
    @Option(help: "System prompt (upstream uses none by default).") var system: String = ""
    @Option(help: "Most tokens to generate per answer.") var maxNewTokens: Int = 512
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0
    @Option(help: "Nucleus sampling mass.") var topP: Float = 1
    @Option(help: "Top-k filter (0 = off).") var topK: Int = 0
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "Side of the high-resolution input (upstream: 768).") var imageSizeAux: Int = 768
    @Option(
        help: ArgumentHelp(
            "Products with 16-bit weights: bf16 (activations rounded to the weights' type, as PyTorch and llama.cpp compute a 16-bit model: AVX512-BF16 dot products for bf16 weights, f16 activations for f16 weights; the default where the CPU has AVX512-BF16), f32 (weights widened to float32: float32 numbers, ~2× slower bf16 prefill; the default elsewhere), split (bf16 weights: bf16 dot products on activations split in two bf16 terms, float32-like).",
            valueName: "split|bf16|f32"))
    var bf16Kernel: String?
    @Flag(help: "Print generated ids, text and the top-5 log-probabilities of every step as JSON.") var json = false
    @Flag(help: "After each answer, print where the time went (visual encoding, prefill, decode) to standard error.")
    var timings = false
    @Flag(help: "Print the memory the model will need, without loading it.") var estimateMemory = false

    func validate() throws {
        guard PromptTemplate.named(template) != nil else {
            throw ValidationError(
                "unknown template \"\(template)\" (known: \(PromptTemplate.all.map(\.name).joined(separator: ", ")))")
        }
        if (boxes == nil) != (boxId == nil) { throw ValidationError("--boxes and --box-id go together") }
        if boxes != nil && !box.isEmpty { throw ValidationError("give boxes either from --boxes or with --box") }
        // One message per flag, naming it, its value and the range it takes.
        if maxNewTokens <= 0 { throw ValidationError("--max-new-tokens \(maxNewTokens): must be positive") }
        if !(temperature >= 0 && temperature.isFinite) {
            throw ValidationError("--temperature \(temperature): must be a finite number ≥ 0 (0 = greedy)")
        }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p \(topP): must be in (0, 1]") }
        if topK < 0 { throw ValidationError("--top-k \(topK): must be ≥ 0 (0 = off)") }
        if imageSizeAux <= 0 { throw ValidationError("--image-size-aux \(imageSizeAux): must be positive") }
    }

    func run() throws {
        if estimateMemory {
            try MemoryEstimatePrinter.print(
                llm: model.llm, visualEncoder: model.visualEncoder, visualEncoderAux: model.visualEncoderAux,
                pth: model.pth)
            return
        }
        if let bf16Kernel { HalfPrecision.kernel = try HalfPrecisionKernel(flag: bf16Kernel) }
        // The detector (small) loads first, so a bad folder is reported before the LLM is read.
        let detector = image != nil && boxes == nil && box.isEmpty ? try detection.loadDetector(reportTags: true) : nil
        let pipeline = try model.loadPipeline(
            template: PromptTemplate.named(template) ?? .vicuna, imageSizeAux: imageSizeAux, forImages: image != nil)
        var decoded: RGBImage? = nil
        var record: BoxRecord? = nil
        if let image {
            let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
            decoded = picture
            if let boxes {
                record = try BoxIndex.load(contentsOf: URL(fileURLWithPath: boxes)).record(for: boxId ?? "")
            }
            if !box.isEmpty {
                let manual = try manualBoxes(box)
                if let outside = manual.boxesOutside(width: picture.width, height: picture.height).first {
                    throw ValidationError(
                        "--box \"\(box[outside])\" lies entirely outside the "
                            + "\(picture.width)×\(picture.height) image")
                }
                record = manual
            }
            if record == nil, let detector {
                pipeline.detector = detector.detector
                pipeline.detectionQueries = try detection.detectionQueries()
                let found = try pipeline.detectBoxes(in: picture, id: .string(boxId ?? "image"))
                FileHandle.standardError.write(
                    Data(
                        ("note: OWLv2 found \(found.boxes.count) boxes for "
                            + "\(detector.tagSummary(pipeline.detectionQueries)) (threshold \(detection.threshold))\n")
                            .utf8))
                record = found
            }
        }
        let session = try pipeline.chat(about: decoded, boxes: record, system: system)
        if let picture = decoded, let visual = session.visual {
            let outside = record?.boxesOutside(width: picture.width, height: picture.height) ?? []
            if visual.usedDummyBox {
                let why =
                    !outside.isEmpty && outside.count == record?.boxes.count
                    ? "all \(outside.count) boxes lie outside the \(picture.width)×\(picture.height) image"
                    : "no boxes for this image"
                FileHandle.standardError.write(Data("note: \(why); using upstream's dummy box [0, 0, 0, 0]\n".utf8))
            } else if !outside.isEmpty {
                FileHandle.standardError.write(
                    Data(
                        ("note: \(outside.count) of the \(record?.boxes.count ?? 0) boxes lie "
                            + "entirely outside the \(picture.width)×\(picture.height) image\n").utf8))
            }
        }
        let sampling = SamplingConfig(temperature: temperature, topK: topK, topP: topP, seed: seed)
        if let prompt {
            try answer(session, prompt, sampling)
            return
        }
        while true {
            if !json { print("USER: ", terminator: ""); fflush(stdout) }
            guard let line = readLine(strippingNewline: true) else { break }
            let message = line.trimmingCharacters(in: .whitespaces)
            if message.isEmpty { continue }
            if message == "exit" || message == "quit" { break }
            try answer(session, message, sampling)
        }
    }

    private func answer(_ session: ChatSession, _ message: String, _ sampling: SamplingConfig) throws {
        if !json { print("ASSISTANT: ", terminator: ""); fflush(stdout) }
        let reply = try session.send(message, maxNewTokens: maxNewTokens, sampling: sampling) { delta in
            if !json { print(delta, terminator: ""); fflush(stdout) }
        }
        if json {
            let steps = reply.steps.map { s -> [String: Any] in
                ["token": s.token, "top5": s.topLogprobs.map { [$0.0, Double($0.1)] as [Any] }]
            }
            let object: [String: Any] = ["generated_ids": reply.ids, "text": reply.text, "steps": steps]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
        }
        if timings { FileHandle.standardError.write(Data(("timings: " + reply.timings.summary + "\n").utf8)) }
    }

    private func manualBoxes(_ specs: [String]) throws -> BoxRecord {
        var boxes: [[Double]] = []
        for spec in specs {
            let parts = spec.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 4, parts.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--box \"\(spec)\": expected four numbers x1,y1,x2,y2")
            }
            boxes.append(parts.compactMap { $0 })
        }
        return try BoxRecord.manual(boxes)
    }
}

/// What a model will need in memory, from the checkpoints' headers only.
/// Prints `MemoryEstimate` for the chat command's four paths.
enum MemoryEstimatePrinter {
    static func print(llm: String, visualEncoder: String, visualEncoderAux: String, pth: String?) throws {
        let estimate = try MemoryEstimate(
            llm: URL(fileURLWithPath: llm), visualEncoder: URL(fileURLWithPath: visualEncoder),
            visualEncoderAux: URL(fileURLWithPath: visualEncoderAux), pth: pth.map { URL(fileURLWithPath: $0) })
        for part in estimate.parts {
            Swift.print(
                String(
                    format: "%-10@ %9.2f M parameters, %8.2f GB stored%@", part.name as NSString,
                    Double(part.parameters) / 1e6, Double(part.storedBytes) / 1e9,
                    (part.resident ? "" : " (replaced by the checkpoint's llm.*)") as NSString))
        }
        Swift.print(
            String(
                format:
                    "total weights resident (memory-mapped, stored dtype): %.2f GB, plus activations and the KV cache",
                Double(estimate.residentBytes) / 1e9))
    }
}
