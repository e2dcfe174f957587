extension TrainConfig {
    /// Checks the values a run would trip over late (after loading gigabytes of weights); the first problem is
    /// thrown, naming the field (JSON key) and value. `knownTemplates` defaults to the templates this build has.
    public func validate(knownTemplates: [String] = PromptTemplate.all.map(\.name)) throws {
        func fail(_ key: CodingKeys, _ value: Any, _ reason: String) -> TrainConfigError {
            .invalidValue(field: key.rawValue, value: "\(value)", reason: reason)
        }
        if name.isEmpty { throw fail(.name, "\"\"", "must not be empty") }
        // An empty path would resolve to the directory the command runs in; `null` unsets an optional one.
        let paths: [(CodingKeys, String?)] = [
            (.llmNameOrPath, llmNameOrPath), (.visualEncoderNameOrPath, visualEncoderNameOrPath),
            (.visualEncoderAuxPath, visualEncoderAuxPath), (.dataPath, dataPath), (.boxJsonPath, boxJsonPath),
            (.imageFolder, imageFolder), (.pretrainedPth, pretrainedPth),
            (.offlineProcessedTextFolder, offlineProcessedTextFolder), (.valDataset, valDataset)
        ]
        for (key, value) in paths where value?.isEmpty == true {
            throw fail(key, "\"\"", "must not be empty (a path; null leaves an optional one unset)")
        }
        if !knownTemplates.contains(promptTemplate) {
            throw fail(
                .promptTemplate, promptTemplate, "unknown template (known: \(knownTemplates.joined(separator: ", ")))")
        }
        if stage == .sft && (pretrainedPth ?? "").isEmpty {
            throw fail(.pretrainedPth, pretrainedPth ?? "null", "an SFT config starts from a pretrain checkpoint")
        }
        let positive: [(CodingKeys, Int)] = [
            (.maxLength, maxLength), (.imageSizeAux, imageSizeAux), (.limitNum, limitNum), (.batchSize, batchSize),
            (.accumulativeCounts, accumulativeCounts), (.maxEpochs, maxEpochs), (.saveSteps, saveSteps),
            (.evaluationFreq, evaluationFreq)
        ]
        for (key, value) in positive where value <= 0 { throw fail(key, value, "must be positive") }
        // Upper limits far beyond any real run, so that every product of config values below stays in range and
        // no buffer is sized by a typo (`max_epochs=1e12` would otherwise ask for a 16 TB lr table).
        for (key, value) in positive {
            let limit = Self.upperLimits[key] ?? Int.max
            if value > limit { throw fail(key, value, "must be at most \(limit)") }
        }
        if dataloaderNumWorkers < 0 || dataloaderNumWorkers > 1024 {
            throw fail(.dataloaderNumWorkers, dataloaderNumWorkers, "must be in 0…1024")
        }
        if saveTotalLimit > 1_000_000 { throw fail(.saveTotalLimit, saveTotalLimit, "must be at most 1000000") }
        if let size = reduceBucketSize, size < 1 || size > 1 << 30 {
            throw fail(.reduceBucketSize, size, "must be in 1…\(1 << 30) elements")
        }
        if ![0, 1].contains(zeroStage) {
            throw fail(.zeroStage, zeroStage, "only 0 (replicated AdamW) and 1 (sharded optimizer state) exist")
        }
        if saveTotalLimit <= 0 && saveTotalLimit != -1 {
            throw fail(.saveTotalLimit, saveTotalLimit, "must be positive, or -1 to keep all")
        }
        if let tokens = evaluateMaxTokens, tokens <= 0 || tokens > 1 << 20 {
            throw fail(.evaluateMaxTokens, tokens, "must be in 1…\(1 << 20)")
        }
        if !(lr > 0 && lr.isFinite) { throw fail(.lr, lr, "must be a positive number") }
        if betas.count != 2 || !betas.allSatisfy({ $0 >= 0 && $0 < 1 }) {
            throw fail(.betas, betas, "must be two values in [0, 1)")
        }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw fail(.weightDecay, weightDecay, "must be ≥ 0") }
        if !(maxNorm > 0 && maxNorm.isFinite) { throw fail(.maxNorm, maxNorm, "must be a positive number") }
        if !(warmupRatio >= 0 && warmupRatio < 1) { throw fail(.warmupRatio, warmupRatio, "must be in [0, 1)") }
        // Upstream never trains the towers; checkpoints (and `loadCheckpoint`) hold only the trained modules.
        if !freezeVisualEncoder {
            throw fail(.freezeVisualEncoder, false, "false is not supported (the towers stay frozen)")
        }
        if let lora = llmLoRA {
            do { try lora.validate() } catch let error as LoRAError { throw fail(.llmLoRA, "set", error.description) }
        }
        if let lora = visualEncoderLoRA {
            do { try lora.validate() } catch let error as LoRAError {
                throw fail(.visualEncoderLoRA, "set", error.description)
            }
        }
    }

    /// The largest value each positive integer field accepts (see `validate`).
    static let upperLimits: [CodingKeys: Int] = [
        .maxLength: 1 << 20, .imageSizeAux: 16_384, .limitNum: 1_000_000, .batchSize: 1_000_000,
        .accumulativeCounts: 1_000_000, .maxEpochs: 1_000_000, .saveSteps: 1 << 40, .evaluationFreq: 1 << 40
    ]
}
