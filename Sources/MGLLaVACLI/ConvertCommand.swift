import ArgumentParser
import Foundation
import MGLLaVA
import MGTrain

/// `mgllava convert IN OUT`: any readable checkpoint → safetensors. An MG-LLaVA `.pth` becomes a folder: the LLM as
/// an HF-style folder (`llm.` stripped, sharded safetensors + index; config and tokenizer files copied from
/// `--llm` when given) plus `mgllava_modules.safetensors` with `fuse_module`, `projector` and `bbox_projector`,
/// which upstream's `pth_to_hf` drops. Tensors keep their stored dtype. With `--merge-lora`, IN is a PEFT LoRA
/// adapter folder merged into the `--llm` folder's weights (`PEFTAdapter.merge`).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint to safetensors (an MG-LLaVA .pth to an HF LLM folder + the MG-LLaVA modules).")

    @Argument(help: "Input checkpoint: a file or model folder in any format `inspect` reads.")
    var input: String

    @Argument(help: "Output: a .safetensors file, or a folder for an MG-LLaVA checkpoint.")
    var output: String

    @Option(
        help:
            "The base LLM folder (llm_name_or_path): its config and tokenizer files are copied next to the converted LLM."
    )
    var llm: String?

    @Option(help: "Largest shard of the converted LLM, in GB (as transformers' max_shard_size).")
    var maxShardGb: Double = 5

    @Flag(help: "IN is a PEFT LoRA adapter folder: merge it into the --llm folder's weights and write the merged LLM.")
    var mergeLora = false

    @Flag(
        help:
            "IN is a LoRA training checkpoint (iter_N folder or work dir): write OUT as PEFT's adapter folder plus the MG-LLaVA modules."
    )
    var loraAdapter = false

    func validate() throws {
        guard maxShardGb > 0 else { throw ValidationError("--max-shard-gb must be positive, got \(maxShardGb)") }
        if mergeLora && llm == nil { throw ValidationError("--merge-lora needs --llm, the base LLM folder") }
        if mergeLora && loraAdapter { throw ValidationError("give --merge-lora or --lora-adapter, not both") }
    }

    func run() throws {
        if loraAdapter {
            let count = try LoRAExport.exportAdapter(
                checkpoint: URL(fileURLWithPath: input), to: URL(fileURLWithPath: output))
            print(
                "wrote \(count) adapter tensors (LoRA and modules_to_save) as a PEFT folder, and the MG-LLaVA modules, to \(output)"
            )
            return
        }
        if mergeLora, let llm {
            try PEFTAdapter.merge(
                adapter: URL(fileURLWithPath: input), baseLLM: URL(fileURLWithPath: llm),
                output: URL(fileURLWithPath: output), maxShardBytes: Int(maxShardGb * 1e9)
            ) { print($0) }
            return
        }
        try CheckpointConversion.convert(
            input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
            baseLLM: llm.map { URL(fileURLWithPath: $0) }, maxShardBytes: Int(maxShardGb * 1e9)
        ) { print($0) }
    }
}
