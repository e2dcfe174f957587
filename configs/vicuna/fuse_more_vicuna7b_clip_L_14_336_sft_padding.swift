// Upstream: mg_llava/config/vicuna/fuse_more_vicuna7b_clip_L_14_336_sft_padding.py (SFT7, SPEC §3.2).
// Stage 2: starts from the stage-1 checkpoint and fine-tunes the whole LLM too.
import MGTrain

public let fuse_more_vicuna7b_clip_L_14_336_sft_padding = fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.with {
    $0.name = "fuse_more_vicuna7b_clip_L_14_336_sft_padding"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/fuse_more_vicuna7b_clip_L_14_336_pretrain_padding/iter_4947.pth"
    $0.dataPath = "PATH_TO_SFT_JSON"
    $0.boxJsonPath = "PATH_TO_SFT_BBOX_JSON"
    $0.batchSize = 16
    $0.lr = 2e-5
    $0.saveSteps = 1000
    $0.saveTotalLimit = 1
    $0.freezeLLM = false  // full fine-tune
    $0.sampler = .lengthGrouped  // LengthGroupedSampler(length_property='modality_length')
    $0.valDataset = "MMBench_DEV_EN"
}
