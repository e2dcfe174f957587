// Upstream: mg_llava/config/Yi-34B/fuse_more_yi34B_*sft* (SPEC §3.3: qwen_chat, batch 4, pin_memory False,
// pretrained_pth …/iter_2474.pth, no eval lists; deepspeed_zero3).
// SPEC names only the prefix `Yi-34B/fuse_more_yi34B_*`; the rest of the name follows the Vicuna-7B pattern.
import MGTrain

public let fuse_more_yi34B_clip_L_14_336_sft_padding = fuse_more_yi34B_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_yi34B_clip_L_14_336_sft_padding"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/fuse_more_yi34B_clip_L_14_336_pretrain_padding/iter_2474.pth"  // 512 per iteration
    $0.dataPath = "PATH_TO_SFT_JSON"
    $0.boxJsonPath = "PATH_TO_SFT_BBOX_JSON"
    $0.batchSize = 4
    $0.lr = 2e-5
    $0.saveSteps = 1000
    $0.saveTotalLimit = 1
    $0.freezeLLM = false  // full fine-tune
    $0.sampler = .lengthGrouped
    $0.valDataset = nil  // no eval lists
}
