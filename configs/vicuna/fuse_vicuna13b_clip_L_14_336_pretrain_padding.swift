// Upstream: mg_llava/config/vicuna/fuse_vicuna13b_clip_L_14_336_pretrain_padding.py (SPEC §3.3: Vicuna-7B pretrain, batch 16).
import MGTrain

public let fuse_vicuna13b_clip_L_14_336_pretrain_padding = fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_vicuna13b_clip_L_14_336_pretrain_padding"
    $0.llmNameOrPath = "PATH_TO_LLM"  // Vicuna-1.5-13B
    $0.batchSize = 16
}
