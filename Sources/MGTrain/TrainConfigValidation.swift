extension TrainConfig {
    /// Checks the values a run would trip over late (after loading gigabytes of weights); the first problem is
    /// thrown, naming the field (JSON key) and value. `knownTemplates` defaults to the templates this build has.
    public func validate(knownTemplates: [String] = PromptTemplate.all.map(\.name)) throws {
        func fail(_ key: CodingKeys, _ value: Any, _ reason: String) -> TrainConfigError {
            .invalidValue(field: key.rawValue, value: "\(value)", reason: reason)
        }
        if name.isEmpty { throw fail(.name, "\"\"", "must not be empty") }
        if !knownTemplates.contains(promptTemplate) {
            throw fail(.promptTemplate, promptTemplate, "unknown template (known: \(knownTemplates.joined(separator: ", ")))")
        }
        if stage == .sft && (pretrainedPth ?? "").isEmpty {
            throw fail(.pretrainedPth, pretrainedPth ?? "null", "an SFT config starts from a pretrain checkpoint")
        }
        let positive: [(CodingKeys, Int)] = [
            (.maxLength, maxLength), (.imageSizeAux, imageSizeAux), (.limitNum, limitNum), (.batchSize, batchSize),
            (.accumulativeCounts, accumulativeCounts), (.maxEpochs, maxEpochs), (.saveSteps, saveSteps),
            (.evaluationFreq, evaluationFreq),
        ]
        for (key, value) in positive where value <= 0 { throw fail(key, value, "must be positive") }
        if dataloaderNumWorkers < 0 { throw fail(.dataloaderNumWorkers, dataloaderNumWorkers, "must be ≥ 0") }
        if saveTotalLimit <= 0 && saveTotalLimit != -1 {
            throw fail(.saveTotalLimit, saveTotalLimit, "must be positive, or -1 to keep all")
        }
        if let tokens = evaluateMaxTokens, tokens <= 0 { throw fail(.evaluateMaxTokens, tokens, "must be positive") }
        if !(lr > 0 && lr.isFinite) { throw fail(.lr, lr, "must be a positive number") }
        if betas.count != 2 || !betas.allSatisfy({ $0 >= 0 && $0 < 1 }) {
            throw fail(.betas, betas, "must be two values in [0, 1)")
        }
        if !(weightDecay >= 0 && weightDecay.isFinite) { throw fail(.weightDecay, weightDecay, "must be ≥ 0") }
        if !(maxNorm > 0 && maxNorm.isFinite) { throw fail(.maxNorm, maxNorm, "must be positive") }
        if !(warmupRatio >= 0 && warmupRatio < 1) { throw fail(.warmupRatio, warmupRatio, "must be in [0, 1)") }
    }
}
