import Foundation
import MGLLaVA

/// `mgllava bench decode`: prefill and decode speed of a full-size LLM kept in its stored 16-bit weights
/// (memory-mapped, or built in memory with random bf16 weights), against bounds measured in the same run: decode
/// against the weight bytes per token ÷ a streaming read bandwidth (`ReadBandwidth`), prefill against raw sgemm on
/// the prefill's own GEMM shapes.
public struct DecodeBench {
    /// Prompt tokens for the prefill measurement.
    public var promptTokens: Int
    /// Tokens to decode.
    public var newTokens: Int

    public init(promptTokens: Int, newTokens: Int) {
        self.promptTokens = promptTokens
        self.newTokens = newTokens
    }

    /// A model of `architecture`'s shapes with random bf16 weights (`RandomWeights.bf16`), built in memory.
    public static func randomModel(_ architecture: LLMArchitecture = .vicuna7B) -> CausalLM {
        let model = CausalLM(architecture)
        RandomWeights.useBF16(model)
        return model
    }

    /// `folder/model-TYPE.gguf`, written by `GGUFExport` the first time (`log` hears it): the quantized model
    /// `bench decode --quant` times, the same file `scripts/bench_llamacpp.py` hands to llama-bench.
    public static func quantizedFile(
        folder: URL, type: GGUFQuantizationType, log: (String) -> Void = { _ in }
    ) throws -> URL {
        let file = folder.appendingPathComponent("model-\(type.rawValue).gguf")
        if !FileManager.default.fileExists(atPath: file.path) {
            log("quantizing to \(file.path) (once)…")
            try GGUFExport.write(llm: folder, type: type, to: file)
        }
        return file
    }

    /// Reads one byte of every page of every weight, so that a memory-mapped model's first prefill does not time
    /// the disk (llama-bench warms up the same way). Returns the bytes' sum (kept so the reads happen).
    @discardableResult
    public static func pageIn(_ model: CausalLM) -> Int {
        var sum = 0
        for (_, parameter) in model.namedParameters() {
            let storage = parameter.value.storage
            let bytes = UnsafeRawPointer(storage.pointer)
            for offset in stride(from: 0, to: storage.byteCount, by: 4096) {
                sum &+= Int(bytes.load(fromByteOffset: offset, as: UInt8.self))
            }
        }
        return sum
    }

    /// GEMM shapes (m, k, n, count) of one decoder layer's prefill of `l` tokens: q and o, k and v (grouped-query
    /// widths), gate and up, down, and per head QKᵀ and PV.
    public static func prefillLayerShapes(_ a: LLMArchitecture, tokens l: Int) -> GemmShapes {
        let d = a.hiddenSize, f = a.intermediateSize, hd = a.headDim, kv = a.numKeyValueHeads * a.headDim
        return [(l, d, d, 2), (l, d, kv, 2), (l, d, f, 2), (l, f, d, 1), (l, hd, l, a.numHeads), (l, l, hd, a.numHeads)]
    }

    /// For each of `kernels` (`HalfPrecision.kernel`): prefills a random prompt and greedily decodes `newTokens`
    /// tokens, timing both; then times raw sgemm on one layer's prefill shapes (× the layer count, plus the LM
    /// head's one row) for the prefill's bound.
    public func measure(
        _ model: CausalLM, readBandwidth: Double, copyBandwidth: Double, kernels: [HalfPrecisionKernel]
    ) -> DecodeBenchResult {
        ResidentMemory.resetPeak()
        let a = model.architecture
        let weightBytes = model.namedParameters().reduce(0) { $0 + $1.1.value.storage.byteCount }
        let parameterCount = model.namedParameters().reduce(0) { $0 + $1.1.value.count }
        var types: [String: Int] = [:]
        for (_, p) in model.namedParameters() where p.value.dtype.isBlockQuantized {
            types[p.value.dtype.rawValue, default: 0] += p.value.storage.byteCount
        }
        // A quantized model is named by its types, largest share first ("Q4_K+Q6_K").
        let format =
            types.isEmpty ? "16 bits" : "GGUF " + types.sorted { $0.value > $1.value }.map(\.key).joined(separator: "+")
        // Bytes a decode step reads: every weight except the embedding table (one row of it).
        let embedBytes = model.embedTokens.weight.value.storage.byteCount
        let perToken = weightBytes - embedBytes + (a.tieWordEmbeddings ? embedBytes : 0)
        // Step i (from 0) attends over promptTokens + i + 1 cached positions, float32 keys and values per layer.
        let positionBytes = a.numLayers * 2 * a.numKeyValueHeads * a.headDim * MemoryLayout<Float>.size
        let cachePerToken = positionBytes * (2 * promptTokens + newTokens + 1) / 2
        var gen = Generator(seed: 1)
        let prompt = (0..<promptTokens).map { _ in 1 + gen.nextInt(below: a.vocabSize - 1) }
        var runs: [DecodeBenchResult.Run] = []
        let chosen = HalfPrecision.kernel
        defer { HalfPrecision.kernel = chosen }
        withNoGrad {
            for kernel in kernels {
                HalfPrecision.kernel = kernel
                let cache = KVCache(architecture: a, batch: 1, capacity: promptTokens + newTokens)
                let tp = BenchTiming.now()
                var out = model(inputsEmbeds: model.embed([prompt]), cache: cache, logitsForLastOnly: true)
                let prefill = BenchTiming.now() - tp
                var tokens: [Int] = []
                let td = BenchTiming.now()
                for _ in 0..<newTokens {
                    guard let logits = out.logits else { break }
                    let next = logits.reshaped([-1]).argmax(axis: 0)[0]
                    tokens.append(next)
                    out = model(inputsEmbeds: model.embed([[next]]), cache: cache, logitsForLastOnly: true)
                }
                runs.append(
                    DecodeBenchResult.Run(
                        kernel: kernel, prefillSeconds: prefill, decodeSeconds: BenchTiming.now() - td,
                        tokens: tokens))
            }
        }
        let peak = ResidentMemory.peak()
        let layerShapes = Self.prefillLayerShapes(a, tokens: promptTokens)
        let layer = RawGemmSeries(layerShapes), head = RawGemmSeries([(1, a.hiddenSize, a.vocabSize, 1)])
        let rawLayer = BenchTiming.interleaved(repeats: 1) { layer.run() }
        let rawHead = BenchTiming.interleaved(repeats: 1) { head.run() }
        let flops = RawGemmSeries.flops(layerShapes) * Double(a.numLayers) + 2 * Double(a.hiddenSize * a.vocabSize)
        return DecodeBenchResult(
            parameterCount: parameterCount, format: format, weightBytes: weightBytes, embedBytes: embedBytes,
            bytesPerToken: perToken, cacheBytesPerToken: cachePerToken,
            promptTokens: promptTokens, runs: runs, prefillFlops: flops,
            prefillBoundSeconds: rawLayer * Double(a.numLayers) + rawHead, readBandwidth: readBandwidth,
            copyBandwidth: copyBandwidth, peakRSS: peak)
    }
}
