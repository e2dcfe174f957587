// Upstream: mg_llava/config/phi3/fuse_more_phi3_*pretrain* (SPEC §3.3: Vicuna-7B pretrain with phi3_chat).
// SPEC names only the prefix `phi3/fuse_more_phi3_*`; the rest of the name follows the Vicuna-7B pattern.
import MGTrain

public let fuse_more_phi3_clip_L_14_336_pretrain_padding = fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_phi3_clip_L_14_336_pretrain_padding"
    $0.llmNameOrPath = "PATH_TO_LLM"  // Phi-3-mini-4k-instruct
    $0.promptTemplate = "phi3_chat"
}
