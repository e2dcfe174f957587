// Upstream: mg_llava/config/Yi-34B/fuse_more_yi34B_*pretrain* (SPEC §3.3: qwen_chat, batch 16, lr 2e-3,
// pin_memory False; the script runs it on 32 GPUs with deepspeed_zero3).
// SPEC names only the prefix `Yi-34B/fuse_more_yi34B_*`; the rest of the name follows the Vicuna-7B pattern.
import MGTrain

public let fuse_more_yi34B_clip_L_14_336_pretrain_padding = fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_yi34B_clip_L_14_336_pretrain_padding"
    $0.llmNameOrPath = "PATH_TO_LLM"  // Yi-1.5-34B-Chat
    $0.promptTemplate = "qwen_chat"  // Yi-1.5 uses ChatML
    $0.batchSize = 16
    $0.lr = 2e-3
    $0.pinMemory = false
}
