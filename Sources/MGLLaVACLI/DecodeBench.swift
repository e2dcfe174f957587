import ArgumentParser
import Foundation
import MGLLaVA

/// `mgllava bench decode`: prefill and decode speed of a full-size LLM kept in its stored bf16 weights
/// (memory-mapped), against the memory-bandwidth bound measured in the same run (weight bytes per token ÷ a
/// large-buffer copy bandwidth). `--generate CONFIG` first writes a random-weight bf16 model with that config's
/// real shapes and key names (e.g. Tests/Fixtures/real-configs/vicuna-7b-v1.5/config.json).
struct DecodeBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Prefill and decode tokens/s of an LLM in bf16 vs the memory-bandwidth bound (release build).")

    @Argument(help: "LLM folder (HF layout); without it, a Vicuna-7B-shaped model with random bf16 weights is built in memory.")
    var directory: String?

    @Option(help: "Write a random bf16 model with this config.json's shapes into DIRECTORY first, then exit.")
    var generate: String?

    @Option(help: "Write random CLIP (this HF config) and ConvNeXt-L towers and the MG-LLaVA modules next to the LLM folder, for a full-size `mgllava chat` run.")
    var clipConfig: String?

    @Option(help: "Prompt tokens for the prefill measurement.")
    var promptTokens: Int = 128

    @Option(help: "Tokens to decode.")
    var newTokens: Int = 16

    @Flag(help: "Also print the rows as one JSON line (for `bench all`).")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, newTokens >= 1 else { throw ValidationError("--prompt-tokens and --new-tokens must be ≥ 1") }
        if directory == nil && (generate != nil || clipConfig != nil) {
            throw ValidationError("--generate and --clip-config need the LLM folder to write")
        }
    }

    func run() throws {
        let t0 = BenchTiming.now()
        let model: CausalLM
        let source: String
        if let directory {
            let dir = URL(fileURLWithPath: directory)
            if try writeModels(dir) { return }
            model = try CausalLM.load(directory: dir, frozen: true)
            source = "opened in %.2f s, memory-mapped"
        } else {
            print("building a Vicuna-7B-shaped model with random bf16 weights in memory…")
            model = CausalLM(StackStepBenchCommand.LLMShape.vicuna7b.architecture(layers: nil))
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            for (_, p) in model.namedParameters() { p.useInPlace(Self.randomBF16(shape: p.shape, state: &state)) }
            source = "built in %.2f s, in memory"
        }
        let loadTime = BenchTiming.now() - t0
        try measure(model, bandwidth: Self.copyBandwidth(), loadTime: loadTime, source: source)
    }

    /// `--generate` / `--clip-config`: writes the random models and returns true (nothing is measured then).
    func writeModels(_ dir: URL) throws -> Bool {
        if let generate {
            try Self.writeRandomModel(config: URL(fileURLWithPath: generate), to: dir)
            print("wrote a random bf16 model to \(dir.path); now run: mgllava bench decode \(dir.path)")
            if let clipConfig { try Self.writeRandomTowers(clipConfig: URL(fileURLWithPath: clipConfig), llm: dir) }
            return true
        }
        if let clipConfig {
            try Self.writeRandomTowers(clipConfig: URL(fileURLWithPath: clipConfig), llm: dir)
            return true
        }
        return false
    }

    func measure(_ model: CausalLM, bandwidth: Double, loadTime: Double, source: String) throws {
        BenchTiming.resetPeakRSS()
        let weightBytes = model.namedParameters().reduce(0) { $0 + $1.1.value.storage.byteCount }
        // Bytes a decode step reads: every weight except the embedding table (one row of it).
        let embedBytes = model.embedTokens.weight.value.storage.byteCount
        let perToken = weightBytes - embedBytes + (model.architecture.tieWordEmbeddings ? embedBytes : 0)
        var gen = Generator(seed: 1)
        let prompt = (0..<promptTokens).map { _ in 1 + gen.nextInt(below: model.architecture.vocabSize - 1) }
        var prefill = 0.0, decode = 0.0
        var produced = 0
        withNoGrad {
            let cache = KVCache(architecture: model.architecture, batch: 1, capacity: promptTokens + newTokens)
            let tp = BenchTiming.now()
            var out = model(inputsEmbeds: model.embed([prompt]), cache: cache, logitsForLastOnly: true)
            prefill = BenchTiming.now() - tp
            let td = BenchTiming.now()
            for _ in 0..<newTokens {
                guard let logits = out.logits else { break }
                let next = logits.reshaped([-1]).argmax(axis: 0)[0]
                out = model(inputsEmbeds: model.embed([[next]]), cache: cache, logitsForLastOnly: true)
                produced += 1
            }
            decode = BenchTiming.now() - td
        }
        let decodeRate = Double(produced) / decode
        let bound = bandwidth / Double(perToken)
        let flops = 2.0 * Double(weightBytes - embedBytes) / 2 * Double(promptTokens)
        print(String(format: "model: %.2f B parameters, %.2f GB in bf16 (" + source + ")",
                     Double(weightBytes) / 2e9, Double(weightBytes) / 1e9, loadTime))
        print(String(format: "prefill: %d tokens in %.2f s = %.1f tokens/s (%.1f GFLOP/s)", promptTokens, prefill,
                     Double(promptTokens) / prefill, flops / prefill / 1e9))
        print(String(format: "decode: %d tokens in %.2f s = %.3f tokens/s", produced, decode, decodeRate))
        print(String(format: "copy bandwidth %.2f GB/s → bound %.3f tokens/s (%.2f GB read per token); decode ÷ bound = %.2f",
                     bandwidth / 1e9, bound, Double(perToken) / 1e9, decodeRate / bound))
        print(String(format: "peak RSS %.2f GB", Double(BenchTiming.peakRSS()) / 1e9))
        if json {
            BenchRows.emit([
                BenchRow(name: "7B bf16 decode, one token (prompt \(promptTokens))", seconds: 1 / decodeRate,
                         boundSeconds: 1 / bound, bound: String(format: "copy bandwidth %.2f GB/s", bandwidth / 1e9),
                         peakRSS: BenchTiming.peakRSS(),
                         detail: String(format: "%.3f tokens/s; prefill %.1f tokens/s", decodeRate, Double(promptTokens) / prefill)),
            ])
        }
    }

    /// A bf16 tensor of uniform-ish random values (|w| < 0.03, as bf16 bit patterns; 1-D tensors — norms — ≈ 1),
    /// drawn with a xorshift generator: far cheaper than converting float32 draws at 7 B elements.
    static func randomBF16(shape: [Int], state: inout UInt64) -> Tensor {
        let count = shape.reduce(1, *)
        let storage = Storage(uninitializedCount: count, dtype: .bfloat16)
        let p = storage.pointer.assumingMemoryBound(to: UInt16.self)
        let norm = shape.count == 1
        var s = state
        for j in 0..<count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            let mantissa = UInt16(truncatingIfNeeded: s >> 32) & 0x7F
            let sign = UInt16(truncatingIfNeeded: s >> 48) & 0x8000
            p[j] = norm ? (0x3F80 | (mantissa & 0x0F)) : (sign | 0x3C00 | (UInt16(truncatingIfNeeded: s >> 40) & 0x1) << 7 | mantissa)
        }
        state = s
        return Tensor(storage: storage, shape: shape)
    }

    /// Bytes per second read by a memcpy of a 1 GiB buffer split over the cores, as the decode kernels split their
    /// rows (best of 5). The destination is checked afterwards so the copies cannot be optimised away.
    static func copyBandwidth() -> Double {
        let n = 1 << 30
        let a = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        defer { a.deallocate(); b.deallocate() }
        memset(a, 1, n)
        memset(b, 2, n)
        let threads = max(1, Parallel.threadCount)
        var checksum = 0
        let t = BenchTiming.interleaved(repeats: 5) {
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                let start = n / threads * i, end = i == threads - 1 ? n : n / threads * (i + 1)
                memcpy(b + start, a + start, end - start)
            }
            checksum &+= Int(b.load(fromByteOffset: n - 1, as: UInt8.self))
        }
        precondition(checksum > 0, "copy bandwidth: the copy did not happen")
        return Double(n) / t
    }

    /// Random CLIP (float32, `vision_model.*`), ConvNeXt-L (float32, open_clip keys) and MG-LLaVA modules (bf16)
    /// beside the LLM folder: `<llm>-clip/`, `<llm>-convnext/`, `<llm>-modules.safetensors`.
    static func writeRandomTowers(clipConfig: URL, llm: URL) throws {
        var gen = Generator(seed: 5)
        func random(_ module: Module, dtype: DType, keep: (String) -> Bool = { _ in true }) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (k, p) in module.namedParameters() where keep(k) {
                let t = Tensor.rand(p.shape, low: -0.03, high: 0.03, generator: &gen) + (p.shape.count == 1 ? 1 : 0)
                out[k] = dtype == .float32 ? t : t.converted(to: dtype)
            }
            return out
        }
        let base = llm.deletingLastPathComponent(), name = llm.lastPathComponent
        let clipDir = base.appendingPathComponent(name + "-clip"), convDir = base.appendingPathComponent(name + "-convnext")
        for d in [clipDir, convDir] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try? FileManager.default.removeItem(at: clipDir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: clipConfig, to: clipDir.appendingPathComponent("config.json"))
        let clip = CLIPVisionModel(CLIPVisionArchitecture(try CLIPVisionConfig.load(clipConfig)))
        try SafeTensorsWriter.write(random(clip, dtype: .float32), to: clipDir.appendingPathComponent("model.safetensors"))
        let trunk = ConvNeXtTrunk(.large)
        let openCLIP: [String: Any] = ["model_cfg": ["embed_dim": 768, "vision_cfg": ["timm_model_name": "convnext_large", "image_size": 320]],
                                       "preprocess_cfg": ["mean": OpenCLIPConfig.openAIMean, "std": OpenCLIPConfig.openAIStd]]
        try JSONSerialization.data(withJSONObject: openCLIP).write(to: convDir.appendingPathComponent("open_clip_config.json"))
        try SafeTensorsWriter.write(random(trunk, dtype: .float32), to: convDir.appendingPathComponent("open_clip_pytorch_model.safetensors"))
        let decoded = try DecoderConfig.load(llm.appendingPathComponent("config.json"))
        let skeleton = MGLLaVAModel(visualEncoder: clip, visualEncoderAux: trunk,
                                    llm: CausalLM(try LLMArchitecture(decoded)), initialization: .placeholder)
        var modules: [String: Tensor] = [:]
        for (k, v) in random(skeleton, dtype: .bfloat16, keep: { !$0.hasPrefix("llm.") && !$0.hasPrefix("visual_encoder") }) {
            modules[k] = v
        }
        try SafeTensorsWriter.write(modules, to: base.appendingPathComponent(name + "-modules.safetensors"))
        print("wrote \(clipDir.path), \(convDir.path) and \(name)-modules.safetensors")
    }

    /// A random bf16 model with the config's shapes and key names, in ≤ 5 GB safetensors shards plus an index.
    static func writeRandomModel(config: URL, to dir: URL) throws {
        let decoded = try DecoderConfig.load(config)
        let skeleton = CausalLM(try LLMArchitecture(decoded, path: config.path))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: config, to: dir.appendingPathComponent("config.json"))
        let params = skeleton.namedParameters().map { ($0.0, $0.1.shape) }
        var shards: [[(String, [Int])]] = [[]]
        var size = 0
        for (name, shape) in params {
            let bytes = shape.reduce(1, *) * 2
            if size + bytes > 5_000_000_000 && !shards[shards.count - 1].isEmpty { shards.append([]); size = 0 }
            shards[shards.count - 1].append((name, shape))
            size += bytes
        }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var weightMap: [String: String] = [:]
        var total = 0
        for (i, shard) in shards.enumerated() {
            let file = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            var tensors: [String: Tensor] = [:]
            for (name, shape) in shard {
                tensors[name] = Self.randomBF16(shape: shape, state: &state)
                weightMap[name] = file
                total += shape.reduce(1, *) * 2
            }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir.appendingPathComponent(file))
            print("wrote \(file)")
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            .write(to: dir.appendingPathComponent("model.safetensors.index.json"), options: .atomic)
    }
}
