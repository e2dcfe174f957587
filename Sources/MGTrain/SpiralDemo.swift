import Foundation

/// The foundation's end-to-end check (`mgllava demo`): a small MLP classifier trained on a synthetic three-arm
/// spiral with the machinery the MG-LLaVA trainer uses (autograd, AdamW, warmup + cosine per iteration, global-norm
/// clipping), checkpointed with the atomic safetensors writer and reloaded strictly into a fresh model.
public enum SpiralDemo {
    /// What a demo run measured and where it wrote its files.
    public struct Result: Sendable {
        public var parameters: Int
        public var firstLoss: Float
        public var lastLoss: Float
        /// Held-out accuracy of the trained model and of the reloaded one (chance: 1/3).
        public var accuracy: Double
        public var reloadedAccuracy: Double
        public var checkpoint: URL
        public var metrics: URL
    }

    /// Points on three interleaved spiral arms (the classic non-linearly separable toy problem).
    public static func spiral(count: Int, generator: inout Generator) -> (Tensor, [Int]) {
        var xs: [Float] = [], labels: [Int] = []
        for i in 0..<count {
            let label = i % 3
            let r = Float(i / 3) / Float(count / 3)
            let angle = Float(label) * 2 * .pi / 3 + r * 4 + generator.nextNormal() * 0.15
            xs += [r * Foundation.cos(angle), r * Foundation.sin(angle)]
            labels.append(label)
        }
        return (Tensor(xs, shape: [count, 2]), labels)
    }

    static func makeModel(_ generator: inout Generator) -> Sequential {
        Sequential(
            Linear(2, 64).initialize(generator: &generator), ActivationLayer(.gelu),
            Linear(64, 64).initialize(generator: &generator), ActivationLayer(.gelu),
            Linear(64, 3).initialize(generator: &generator))
    }

    static func accuracy(_ model: Sequential, _ x: Tensor, _ labels: [Int]) -> Double {
        let predicted = withNoGrad { model(x) }.argmax(axis: 1)
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// Trains for `iterations` (batch 64), writes `metrics.jsonl` and `model.safetensors` into `workDir`, reloads the
    /// checkpoint and measures both models on held-out points. `log` gets a line every 50 iterations.
    public static func run(
        workDir: URL, iterations: Int, seed: UInt64, log: (String) -> Void = { _ in }
    ) throws -> Result {
        var gen = Generator(seed: seed)
        let (trainX, trainY) = spiral(count: 1500, generator: &gen)
        let (testX, testY) = spiral(count: 600, generator: &gen)
        let model = makeModel(&gen)
        let optimizer = AdamW(model.namedParameters(), lr: 1e-2, weightDecay: 0.01) { _, p in p.shape.count > 1 }
        let schedule = WarmupCosineSchedule(baseLR: 1e-2, iterations: iterations, warmupRatio: 0.03)
        let batch = 64

        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let metricsURL = workDir.appendingPathComponent("metrics.jsonl")
        var metrics = ""
        log("demo: \(model.parameterCount) parameters, \(iterations) iterations, batch \(batch)")
        var order = gen.permutation(trainY.count), cursor = 0
        var firstLoss = Float.nan, lastLoss = Float.nan
        for it in 0..<iterations {
            if cursor + batch > order.count { order = gen.permutation(trainY.count); cursor = 0 }
            let idx = Array(order[cursor..<(cursor + batch)])
            cursor += batch
            let x = trainX.indexSelect(axis: 0, idx), y = idx.map { trainY[$0] }
            optimizer.lr = schedule.lr(at: it)
            optimizer.zeroGrad()
            let loss = model(x).crossEntropy(targets: y)
            loss.backward()
            let norm = clipGradNorm(model.parameters(), maxNorm: 1.0)
            optimizer.step()
            let value = loss.item()
            if it == 0 { firstLoss = value }
            lastLoss = value
            metrics += String(
                format: "{\"iter\": %d, \"loss\": %.6f, \"lr\": %.8g, \"grad_norm\": %.6f}\n",
                it, value, optimizer.lr, norm)
            if it % 50 == 0 || it == iterations - 1 {
                log(String(format: "iter %4d  loss %.4f  lr %.2e  grad-norm %.3f", it, value, optimizer.lr, norm))
            }
        }
        try Data(metrics.utf8).write(to: metricsURL, options: .atomic)
        let trained = accuracy(model, testX, testY)

        // Checkpoint, then reload into a freshly initialised model: strict keys and shapes, same predictions.
        let checkpoint = workDir.appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(
            model.stateDict(), metadata: ["format": "pt", "producer": "mgllava demo"], to: checkpoint)
        var other = Generator(seed: seed &+ 1)
        let reloaded = makeModel(&other)
        try reloaded.load(try SafeTensorsFile(url: checkpoint).loadAll(), source: checkpoint.path)
        return Result(
            parameters: model.parameterCount, firstLoss: firstLoss, lastLoss: lastLoss, accuracy: trained,
            reloadedAccuracy: accuracy(reloaded, testX, testY), checkpoint: checkpoint, metrics: metricsURL)
    }
}
