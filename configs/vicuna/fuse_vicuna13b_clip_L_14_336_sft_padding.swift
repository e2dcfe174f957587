// Upstream: mg_llava/config/vicuna/fuse_vicuna13b_clip_L_14_336_sft_padding.py (SPEC §3.3: batch 8, evaluate_max_tokens=50, val dataset MME).
// SPEC does not give this file's pretrained_pth iteration; iter_4947 (1266k samples at 256 per iteration) is assumed.
import MGTrain

public let fuse_vicuna13b_clip_L_14_336_sft_padding = fuse_vicuna13b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_vicuna13b_clip_L_14_336_sft_padding"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/fuse_vicuna13b_clip_L_14_336_pretrain_padding/iter_4947.pth"
    $0.dataPath = "PATH_TO_SFT_JSON"
    $0.boxJsonPath = "PATH_TO_SFT_BBOX_JSON"
    $0.lr = 2e-5
    $0.saveSteps = 1000
    $0.saveTotalLimit = 1
    $0.freezeLLM = false  // full fine-tune
    $0.sampler = .lengthGrouped
    $0.batchSize = 8
    $0.evaluateMaxTokens = 50
    $0.valDataset = "MME"
}
