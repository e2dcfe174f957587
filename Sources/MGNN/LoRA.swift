import MGTensor

/// A LoRA adapter's settings, with PEFT's `LoraConfig` names and meanings (XTuner's `llm_lora`).
public struct LoRAConfig: Equatable, Sendable {
    /// Rank of the update: A is [r, in], B is [out, r].
    public var r: Int
    /// The update is scaled by `alpha / r` (`alpha / √r` with `useRSLoRA`).
    public var alpha: Float
    /// Dropout on the input of A (training only).
    public var dropout: Float
    /// Names of the linear layers to adapt, matched as PEFT matches them: a module whose key is the name or ends with
    /// "." + name. nil: every linear layer except `lm_head` (XTuner's `find_all_linear_names`).
    public var targetModules: [String]?
    /// rsLoRA's scaling (`use_rslora`).
    public var useRSLoRA: Bool
    /// Modules trained in full beside the adapters and saved with them (PEFT's `modules_to_save`, e.g. `lm_head`
    /// and `embed_tokens` when new tokens are added), matched as `targetModules` is.
    public var modulesToSave: [String]?

    public init(
        r: Int, alpha: Float, dropout: Float = 0, targetModules: [String]? = nil, useRSLoRA: Bool = false,
        modulesToSave: [String]? = nil
    ) {
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.useRSLoRA = useRSLoRA
        self.modulesToSave = modulesToSave
    }

    /// The factor B·A is multiplied by.
    public var scaling: Float { useRSLoRA ? alpha / Float(r).squareRoot() : alpha / Float(r) }

    /// Throws for a rank or alpha that is not positive, or a dropout outside [0, 1).
    public func validate() throws {
        guard r > 0 else { throw LoRAError("r \(r): must be positive") }
        guard alpha > 0, alpha.isFinite else { throw LoRAError("lora_alpha \(alpha): must be positive") }
        guard dropout >= 0, dropout < 1 else { throw LoRAError("lora_dropout \(dropout): must be in [0, 1)") }
        if let targets = targetModules, targets.isEmpty { throw LoRAError("target_modules is empty") }
        if let saved = modulesToSave, saved.isEmpty { throw LoRAError("modules_to_save is empty") }
    }
}

extension LoRAConfig: Codable {
    /// XTuner's `llm_lora = dict(...)` keys (PEFT's `LoraConfig` arguments); `bias` must be "none" and `task_type` is
    /// kept for fidelity (always a causal LM here).
    enum CodingKeys: String, CodingKey {
        case r
        case alpha = "lora_alpha"
        case dropout = "lora_dropout"
        case targetModules = "target_modules"
        case useRSLoRA = "use_rslora"
        case modulesToSave = "modules_to_save"
        case bias
        case taskType = "task_type"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            r: try c.decode(Int.self, forKey: .r), alpha: try c.decode(Float.self, forKey: .alpha),
            dropout: try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0,
            targetModules: try c.decodeIfPresent([String].self, forKey: .targetModules),
            useRSLoRA: try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false,
            modulesToSave: try c.decodeIfPresent([String].self, forKey: .modulesToSave))
        if let bias = try c.decodeIfPresent(String.self, forKey: .bias), bias != "none" {
            throw DecodingError.dataCorruptedError(
                forKey: .bias, in: c, debugDescription: "\"\(bias)\" is not supported (only \"none\")")
        }
        if let task = try c.decodeIfPresent(String.self, forKey: .taskType), task != "CAUSAL_LM" {
            throw DecodingError.dataCorruptedError(
                forKey: .taskType, in: c, debugDescription: "\"\(task)\" is not supported (only \"CAUSAL_LM\")")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(r, forKey: .r)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode(useRSLoRA, forKey: .useRSLoRA)
        try c.encodeIfPresent(modulesToSave, forKey: .modulesToSave)
        try c.encode("none", forKey: .bias)
        try c.encode("CAUSAL_LM", forKey: .taskType)
    }
}

/// A LoRA setting or attachment that cannot be used; the message names the value or module.
public struct LoRAError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The low-rank update of one `Linear`: y += scaling · B(A(dropout(x))), A [r, in] and B [out, r] without biases,
/// held as PEFT holds them (`lora_A.weight`, `lora_B.weight` beside the base layer's `weight`).
public final class LoRAAdapter {
    public let a: Linear
    public let b: Linear
    public let dropout: Dropout
    public let scaling: Float

    /// PEFT's initialisation: A ~ kaiming-uniform with a = √5 (U(−1/√in, 1/√in)), B = 0, so the adapted layer starts
    /// as the base layer.
    public init(inFeatures: Int, outFeatures: Int, config: LoRAConfig, generator: inout Generator, dropoutSeed: UInt64)
    {
        a = Linear(inFeatures, config.r, bias: false)
        a.weight.value = Initialization.uniform(
            [config.r, inFeatures], bound: Initialization.uniformBound(fanIn: inFeatures), generator: &generator)
        b = Linear(config.r, outFeatures, bias: false)
        dropout = Dropout(p: config.dropout, seed: dropoutSeed)
        scaling = config.scaling
    }

    /// scaling · B(A(dropout(x))).
    func delta(_ x: Tensor, training: Bool) -> Tensor {
        dropout.train(training)
        return b(a(dropout(x))) * scaling
    }
}

extension Module {
    /// Attaches a LoRA adapter to every `Linear` the config targets (see `LoRAConfig.targetModules`), freezing
    /// everything else in this tree: only the adapters train (`trainModulesToSave` unfreezes the config's
    /// `modulesToSave` for training). Returns the keys of the adapted layers, in tree order. Throws when the config
    /// is invalid, when the targets match no linear layer, or when a named target or module to save matches
    /// nothing (a typo would otherwise train nothing there), or is also adapted.
    @discardableResult
    public func attachLoRA(_ config: LoRAConfig, generator: inout Generator) throws -> [String] {
        try config.validate()
        let linears = namedModules().compactMap { key, module in (module as? Linear).map { (key, $0) } }
        func matches(_ key: String, _ name: String) -> Bool { Module.key(key, matchesModule: name) }
        let chosen: [(String, Linear)]
        if let targets = config.targetModules {
            for name in targets where !linears.contains(where: { matches($0.0, name) }) {
                throw LoRAError("target module \"\(name)\" matches no linear layer")
            }
            chosen = linears.filter { key, _ in targets.contains { matches(key, $0) } }
        } else {
            chosen = linears.filter { key, _ in !matches(key, "lm_head") }
        }
        guard !chosen.isEmpty else { throw LoRAError("no linear layer to adapt") }
        let saved = try modulesToSave(config)
        if let both = saved.first(where: { key, _ in chosen.contains { $0.0 == key } }) {
            throw LoRAError("\(both.0) is both a LoRA target and in modules_to_save")
        }
        freeze()
        for (index, (key, linear)) in chosen.enumerated() {
            if linear.adapter != nil { throw LoRAError("\(key) already has a LoRA adapter") }
            linear.adapter = LoRAAdapter(
                inFeatures: linear.inFeatures, outFeatures: linear.outFeatures, config: config, generator: &generator,
                dropoutSeed: UInt64(index))
        }
        return chosen.map(\.0)
    }

    /// The modules `config.modulesToSave` names (key, module); throws naming one that matches nothing.
    public func modulesToSave(_ config: LoRAConfig) throws -> [(String, Module)] {
        var found: [(String, Module)] = []
        for name in config.modulesToSave ?? [] {
            let matched = namedModules().filter { Module.key($0.0, matchesModule: name) }
            guard !matched.isEmpty else { throw LoRAError("modules_to_save \"\(name)\" matches no module") }
            found += matched
        }
        return found
    }

    /// Unfreezes the modules `config.modulesToSave` names (their in-place 16-bit weights become float32 copies),
    /// so that they train beside the adapters, as PEFT trains its `modules_to_save`.
    public func trainModulesToSave(_ config: LoRAConfig) throws {
        for (_, module) in try modulesToSave(config) {
            for parameter in module.parameters() { parameter.frozen = false }
        }
    }

    /// The dropout of every attached adapter, keyed `<linear>.lora_dropout` in tree order: their generators are
    /// training state (saved and restored by a trainer for an exact resume; reset for a checkpointed layer's
    /// recomputation so that it draws the forward's masks).
    public func loraDropouts() -> [(String, Dropout)] {
        namedModules().compactMap { key, module in
            guard let linear = module as? Linear, let adapter = linear.adapter, adapter.dropout.p > 0 else {
                return nil
            }
            return (key.isEmpty ? "lora_dropout" : key + ".lora_dropout", adapter.dropout)
        }
    }

    /// Whether the module at `key` is the one PEFT's `name` selects: the key itself or ending in "." + name.
    public static func key(_ key: String, matchesModule name: String) -> Bool {
        key == name || key.hasSuffix("." + name)
    }

    /// Folds every adapter into its base weight (W += scaling · B·A, in float32) and removes it. Throws when a base
    /// weight is block-quantized (merging would need requantizing; merge into the 16-bit or float32 base instead).
    public func mergeLoRA() throws {
        for (key, module) in namedModules() {
            guard let linear = module as? Linear, let adapter = linear.adapter else { continue }
            if linear.weight.value.dtype.isBlockQuantized {
                throw LoRAError("\(key): cannot merge into a \(linear.weight.value.dtype) weight")
            }
            let update = withNoGrad { adapter.b.weight.value.matmul(adapter.a.weight.value) * adapter.scaling }
            let wasFrozen = linear.weight.frozen
            linear.weight.value = withNoGrad { linear.weight.value.float() + update }
            linear.weight.frozen = wasFrozen
            linear.adapter = nil
        }
    }
}
