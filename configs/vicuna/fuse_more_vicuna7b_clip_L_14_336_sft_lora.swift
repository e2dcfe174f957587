// Stage 2 of the Vicuna-7B model with LoRA on the LLM instead of a full fine-tune (no upstream MG-LLaVA config;
// XTuner's llava_vicuna_7b_v15_qlora_* recipe without the 4-bit base): llm_lora r 512, alpha 256, dropout 0.05,
// bias none, on every linear layer but lm_head (XTuner's find_all_linear_names); lr 2e-4; the LLM's own weights
// frozen, the adapters and the MG-LLaVA modules trained.
import MGTrain

public let fuse_more_vicuna7b_clip_L_14_336_sft_lora = fuse_more_vicuna7b_clip_L_14_336_sft_padding.with {
    $0.name = "fuse_more_vicuna7b_clip_L_14_336_sft_lora"
    $0.lr = 2e-4
    $0.freezeLLM = true
    $0.llmLoRA = LoRAConfig(r: 512, alpha: 256, dropout: 0.05)
}
