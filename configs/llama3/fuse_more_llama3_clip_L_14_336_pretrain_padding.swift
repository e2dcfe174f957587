// Upstream: mg_llava/config/llama3/fuse_more_llama3_*pretrain* (SPEC §3.3: llama3_chat, batch 16).
// SPEC names only the prefix `llama3/fuse_more_llama3_*`; the rest of the name follows the Vicuna-7B pattern.
import MGTrain

public let fuse_more_llama3_clip_L_14_336_pretrain_padding = fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_llama3_clip_L_14_336_pretrain_padding"
    $0.llmNameOrPath = "PATH_TO_LLM"  // Meta-Llama-3-8B-Instruct
    $0.promptTemplate = "llama3_chat"
    $0.batchSize = 16
}
