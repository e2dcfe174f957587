// The embedded default's stage 2 with LoRA instead of a full fine-tune: tiny_sft with XTuner's `llm_lora` on every
// linear layer of the LLM but lm_head; the LLM's own weights (and its embeddings and lm_head) stay frozen, the
// adapters and the MG-LLaVA modules train. The tiny LLM is random, so the adapters carry the whole task: rank 64
// of its 128 hidden dimensions, alpha 128, and tiny_sft's from-scratch rate.
import MGTrain

public let tiny_sft_lora = tiny_sft.with {
    $0.name = "tiny_sft_lora"
    $0.freezeLLM = true
    $0.llmLoRA = LoRAConfig(r: 64, alpha: 128, dropout: 0.05)
}
