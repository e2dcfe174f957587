// Upstream: mg_llava/config/phi3/fuse_more_phi3_*sft* (SPEC §3.3: phi3_chat, batch 8).
// SPEC does not give this file's pretrained_pth iteration; iter_4947 (1266k samples at 256 per iteration) is assumed.
// SPEC names only the prefix; the rest of the name follows the Vicuna-7B pattern.
import MGTrain

public let fuse_more_phi3_clip_L_14_336_sft_padding = fuse_more_phi3_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_phi3_clip_L_14_336_sft_padding"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/fuse_more_phi3_clip_L_14_336_pretrain_padding/iter_4947.pth"
    $0.dataPath = "PATH_TO_SFT_JSON"
    $0.boxJsonPath = "PATH_TO_SFT_BBOX_JSON"
    $0.lr = 2e-5
    $0.saveSteps = 1000
    $0.saveTotalLimit = 1
    $0.freezeLLM = false  // full fine-tune
    $0.sampler = .lengthGrouped
    $0.batchSize = 8
    $0.valDataset = "MMBench_DEV_EN"
}
