import Foundation

/// A LoRA training run's checkpoint as PEFT's adapter folder (`mgllava convert --lora-adapter`): the adapters from
/// `model.safetensors` under PEFT's names, `adapter_config.json` from the run's `llm_lora` (its
/// `llm_name_or_path` as the base model), and the MG-LLaVA modules it trained beside them
/// (`mgllava_modules.safetensors`), so that PEFT, `--adapter` and `convert --merge-lora` read it.
public enum LoRAExport {
    /// Exports `checkpoint` (an `iter_N` folder, or a work dir: its latest) into `output`. Returns the number of
    /// adapter tensors written. Throws when the checkpoint holds no adapter or its run had no `llm_lora`.
    @discardableResult
    public static func exportAdapter(checkpoint: URL, to output: URL) throws -> Int {
        let modelFile = try TrainingRun.pretrainedWeights(checkpoint, field: "checkpoint")
        let folder = modelFile.deletingLastPathComponent()
        let stateURL = folder.appendingPathComponent(Trainer.stateFile)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw TrainerError.invalidConfiguration("\(stateURL.path): cannot read the run's state (\(error))")
        }
        guard let lora = state.config.llmLoRA else {
            throw TrainerError.invalidConfiguration(
                "\(stateURL.path): the run has no llm_lora (a full fine-tune: use `mgllava convert` on its checkpoint)")
        }
        let weights = try Checkpoint.open(modelFile)
        var adapters: [String: Tensor] = [:], modules: [String: Tensor] = [:]
        for key in weights.keys {
            if Module.key(key, hasPrefix: "llm") {
                // The adapters, and the whole weights of the run's modules_to_save.
                adapters[String(key.dropFirst("llm.".count))] = try weights.tensor(key)
            } else {
                modules[key] = try weights.tensor(key)
            }
        }
        guard adapters.keys.contains(where: { $0.contains(".lora_") }) else {
            throw TrainerError.invalidConfiguration("\(modelFile.path): holds no LoRA adapter (llm.*.lora_A/B)")
        }
        try PEFTAdapter.write(adapters, config: lora, baseModel: state.config.llmNameOrPath, to: output)
        if !modules.isEmpty {
            try SafeTensorsWriter.write(
                modules, metadata: ["format": "pt"],
                to: output.appendingPathComponent(CheckpointConversion.moduleFileName))
        }
        return adapters.count
    }
}
