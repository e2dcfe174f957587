// The embedded default's stage 2 with LoRA instead of a full fine-tune: tiny_sft with XTuner's `llm_lora` on every
// linear layer of the LLM but lm_head; the LLM's own linear weights stay frozen, the adapters and the MG-LLaVA
// modules train. The tiny LLM is random, not a pretrained one: its token embeddings and output head know no words,
// so they train in full beside the adapters (PEFT's `modules_to_save`, as when new tokens are added to a real
// base) — frozen, the adapters learned the answers' words but not which option letter goes with them (circular
// MMBench 22 %). Rank 64 of its 128 hidden dimensions, alpha 128, and tiny_sft's from-scratch rate.
import MGTrain

public let tiny_sft_lora = tiny_sft.with {
    $0.name = "tiny_sft_lora"
    $0.freezeLLM = true
    $0.llmLoRA = LoRAConfig(r: 64, alpha: 128, dropout: 0.05, modulesToSave: ["lm_head", "embed_tokens"])
}
