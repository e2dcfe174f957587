import Foundation
import MGCheckpoint
import MGJSON
import MGLLM
import MGNN

/// A LoRA adapter folder as PEFT writes and reads it (`save_pretrained` / `PeftModel.from_pretrained`):
/// `adapter_config.json` (`peft_type` "LORA", `r`, `lora_alpha`, `lora_dropout`, `target_modules`, `use_rslora`,
/// `task_type`, `base_model_name_or_path`) and `adapter_model.safetensors` whose keys are the LLM's own with
/// `base_model.model.` in front (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), and the whole
/// weights of its `modules_to_save` under their own names (`base_model.model.lm_head.weight`).
public enum PEFTAdapter {
    static let keyPrefix = "base_model.model."

    /// Attaches the adapter in `directory` to `llm` and loads its weights: every tensor must be one of the attached
    /// adapters' or of a module to save (same shape), and every attached adapter and module to save must get its
    /// tensors. Returns its config. Errors name the file and the key or field.
    @discardableResult
    public static func load(_ directory: URL, into llm: CausalLM) throws -> LoRAConfig {
        let configURL = directory.appendingPathComponent("adapter_config.json")
        let config = try readConfig(configURL)
        var generator = Generator(seed: 0)
        let adapted: [String]
        do {
            adapted = try llm.attachLoRA(config, generator: &generator)
        } catch let error as LoRAError {
            throw ConfigError(path: configURL.path, key: "target_modules", reason: error.description)
        }
        let weightsURL = directory.appendingPathComponent("adapter_model.safetensors")
        let file = try SafeTensorsFile(url: weightsURL)
        let saved: [(String, Module)]
        do {
            saved = try llm.modulesToSave(config)
        } catch let error as LoRAError {
            throw ConfigError(path: configURL.path, key: "modules_to_save", reason: error.description)
        }
        var parameters = Dictionary(uniqueKeysWithValues: llm.namedParameters().filter { $0.0.contains(".lora_") })
        for (key, module) in saved {
            for (name, parameter) in module.namedParameters() { parameters[key + "." + name] = parameter }
        }
        var loaded = Set<String>()
        for key in file.keys {
            guard key.hasPrefix(keyPrefix), let parameter = parameters[String(key.dropFirst(keyPrefix.count))] else {
                throw ConfigError(
                    path: weightsURL.path, key: key,
                    reason:
                        "no such LoRA weight or module to save in the model (adapted: \(adapted.count) linear layers)")
            }
            var tensor = try file.tensor(key, copy: true)
            if !key.contains(".lora_") && tensor.dtype != parameter.value.dtype {
                tensor = tensor.converted(to: parameter.value.dtype)  // a saved module in the base's dtype
            }
            guard tensor.shape == parameter.shape else {
                throw ConfigError(
                    path: weightsURL.path, key: key,
                    reason: "shape \(tensor.shape), the model's is \(parameter.shape) (another base model or r?)")
            }
            parameter.value = tensor
            loaded.insert(String(key.dropFirst(keyPrefix.count)))
        }
        if let missing = parameters.keys.sorted().first(where: { !loaded.contains($0) }) {
            throw ConfigError(path: weightsURL.path, key: keyPrefix + missing, reason: "missing")
        }
        return config
    }

    /// Writes the adapters attached to `llm` as PEFT's folder (atomic files), `baseModel` as
    /// `base_model_name_or_path`.
    public static func save(_ llm: CausalLM, config: LoRAConfig, baseModel: String, to directory: URL) throws {
        let lora = llm.namedParameters().filter { $0.0.contains(".lora_") }
        guard !lora.isEmpty else { throw LoRAError("the model has no LoRA adapter to save") }
        var tensors: [String: Tensor] = [:]
        for (key, parameter) in lora { tensors[key] = parameter.value }
        for (key, module) in try llm.modulesToSave(config) {
            for (name, parameter) in module.namedParameters() { tensors[key + "." + name] = parameter.value }
        }
        try write(tensors, config: config, baseModel: baseModel, to: directory)
    }

    /// Writes adapter tensors keyed as the LLM's own parameters (`model.layers.0.self_attn.q_proj.lora_A.weight`)
    /// as PEFT's folder: `adapter_model.safetensors` under `base_model.model.` + key, and `adapter_config.json`
    /// (`target_modules` from the config, or the adapted layers' names when it has none); tensors that are not
    /// adapters' are the config's modules to save.
    public static func write(
        _ tensors: [String: Tensor], config: LoRAConfig, baseModel: String, to directory: URL
    )
        throws
    {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var prefixed: [String: Tensor] = [:]
        for (key, tensor) in tensors { prefixed[keyPrefix + key] = tensor }
        try SafeTensorsWriter.write(
            prefixed, metadata: ["format": "pt"], to: directory.appendingPathComponent("adapter_model.safetensors"))
        let adapted = Set(
            tensors.keys.filter { $0.contains(".lora_") }.compactMap { $0.components(separatedBy: ".lora_").first })
        let targets = config.targetModules ?? Set(adapted.compactMap { $0.components(separatedBy: ".").last }).sorted()
        // Float → Double through the decimal text, so 0.05 is written as 0.05, not 0.05000000074505806.
        let object: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": config.r,
            "lora_alpha": Double(String(config.alpha)) ?? 0, "lora_dropout": Double(String(config.dropout)) ?? 0,
            "target_modules": targets, "use_rslora": config.useRSLoRA, "bias": "none",
            "base_model_name_or_path": baseModel, "fan_in_fan_out": false, "inference_mode": true,
            "init_lora_weights": true, "modules_to_save": config.modulesToSave.map { $0 as Any } ?? NSNull()
        ]
        let data = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try data.write(to: directory.appendingPathComponent("adapter_config.json"), options: .atomic)
    }

    /// Merges the adapter in `adapter` into the HF LLM folder `baseLLM` and writes the merged model as an HF folder
    /// (`mgllava convert --merge-lora`): every adapted weight becomes W + scaling · B·A, computed in float32 and
    /// stored back in W's dtype (as PEFT's `merge_and_unload` adds in place); every other tensor is copied as
    /// stored; shards of at most `maxShardBytes`; config and tokenizer files copied. A GGUF or block-quantized
    /// base is refused (merging would need requantizing). `log` gets one line per step.
    public static func merge(
        adapter: URL, baseLLM: URL, output: URL, maxShardBytes: Int, log: (String) -> Void = { _ in }
    ) throws {
        if CausalLM.isGGUF(baseLLM) {
            throw LoRAError("\(baseLLM.path): cannot merge into a GGUF (merge into the HF folder, then quantize)")
        }
        let weights = try Checkpoint.open(baseLLM)
        let llm = try CausalLM.load(directory: baseLLM, frozen: true)
        let config = try load(adapter, into: llm)
        var updates: [String: Tensor] = [:], replacements: [String: Tensor] = [:]
        for (key, module) in llm.namedModules() {
            guard let linear = module as? Linear, let lora = linear.adapter else { continue }
            updates[key + ".weight"] = withNoGrad { lora.b.weight.value.matmul(lora.a.weight.value) * lora.scaling }
        }
        // modules_to_save: the adapter's weights replace the base's.
        for (key, module) in try llm.modulesToSave(config) {
            for (name, parameter) in module.namedParameters() { replacements[key + "." + name] = parameter.value }
        }
        if let absent = (Array(updates.keys) + Array(replacements.keys)).sorted().first(where: {
            !weights.keys.contains($0)
        }) {
            throw LoRAError("\(baseLLM.path) has no tensor \(absent) for the adapter's update")
        }
        let keys = weights.keys.filter { !CausalLM.isIgnoredKey($0) }.sorted()
        let entries = try keys.map { (key: $0, byteCount: try weights.info(for: $0).byteCount) }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let shards = try SafeTensorsWriter.writeSharded(
            entries, maxShardBytes: maxShardBytes, metadata: ["format": "pt"], to: output
        ) { key in
            let stored = try weights.tensor(key)
            if let replacement = replacements[key] {
                return replacement.dtype == stored.dtype ? replacement : replacement.float().converted(to: stored.dtype)
            }
            guard let update = updates[key] else { return stored }
            if stored.dtype.isBlockQuantized {
                throw LoRAError("\(key): cannot merge into a \(stored.dtype) weight")
            }
            let merged = withNoGrad { stored.float() + update }
            return stored.dtype == .float32 ? merged : merged.converted(to: stored.dtype)
        }
        try CheckpointConversion.copyConfigAndTokenizer(from: baseLLM, to: output)
        log(
            "merged LoRA r \(config.r), alpha \(config.alpha) into \(updates.count) weights"
                + (replacements.isEmpty ? "" : " and replaced \(replacements.count) (modules_to_save)")
                + "; wrote \(keys.count) "
                + "tensors in \(shards.count) shard\(shards.count == 1 ? "" : "s") and the config and tokenizer "
                + "files to \(output.path)")
    }

    /// `adapter_config.json` as a `LoRAConfig`; anything but a plain LoRA (other PEFT types, DoRA, per-module ranks,
    /// biases, layer selections) is refused by name rather than loaded wrong.
    static func readConfig(_ url: URL) throws -> LoRAConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(path: url.path, key: "", reason: "cannot read (\(error.localizedDescription))")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch { throw ConfigError(path: url.path, key: "", reason: "\(error)") }
        guard let members = root.members else { throw ConfigError(path: url.path, key: "", reason: "not an object") }
        var fields: [String: JSONValue] = [:]
        for member in members { fields[member.key] = member.value }
        func fail(_ key: String, _ reason: String) -> ConfigError {
            ConfigError(path: url.path, key: key, reason: reason)
        }
        guard fields["peft_type"]?.string == "LORA" else {
            throw fail("peft_type", "\(fields["peft_type"].map { "\($0)" } ?? "missing"), only LORA is supported")
        }
        guard let r = fields["r"]?.int, r > 0 else { throw fail("r", "must be a positive integer") }
        guard let alpha = fields["lora_alpha"]?.double, alpha > 0 else {
            throw fail("lora_alpha", "must be a positive number")
        }
        let dropout = fields["lora_dropout"]?.double ?? 0
        var targets: [String]? = nil
        switch fields["target_modules"] {
        case .some(.string(let one)) where one == "all-linear": targets = nil
        case .some(.string(let one)): targets = [one]
        case .some(.array(let list)):
            targets = try list.map { item in
                guard let name = item.string else { throw fail("target_modules", "must hold strings") }
                return name
            }
        default: throw fail("target_modules", "missing (a list of module names, or \"all-linear\")")
        }
        for key in ["use_dora", "fan_in_fan_out"] where fields[key]?.bool == true {
            throw fail(key, "true is not supported")
        }
        if let bias = fields["bias"]?.string, bias != "none" { throw fail("bias", "\"\(bias)\" is not supported") }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let pattern = fields[key]?.members, !pattern.isEmpty {
                throw fail(key, "per-module values are not supported")
            }
        }
        if let layers = fields["layers_to_transform"], !layers.isNull {
            throw fail("layers_to_transform", "is not supported")
        }
        var modulesToSave: [String]? = nil
        switch fields["modules_to_save"] {
        case .none, .some(.null): break
        case .some(.array(let list)):
            modulesToSave = try list.map { item in
                guard let name = item.string else { throw fail("modules_to_save", "must hold strings") }
                return name
            }
        default: throw fail("modules_to_save", "must be a list of module names or null")
        }
        let config = LoRAConfig(
            r: r, alpha: Float(alpha), dropout: Float(dropout), targetModules: targets,
            useRSLoRA: fields["use_rslora"]?.bool ?? false, modulesToSave: modulesToSave)
        do { try config.validate() } catch let error as LoRAError { throw fail("", error.description) }
        return config
    }
}
