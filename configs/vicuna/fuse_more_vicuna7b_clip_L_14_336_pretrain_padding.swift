// Upstream: mg_llava/config/vicuna/fuse_more_vicuna7b_clip_L_14_336_pretrain_padding.py (PRE7, SPEC §3.2).
// Stage 1: only fuse_module, projector and bbox_projector train; CLIP, ConvNeXt and the LLM are frozen.
import MGTrain

public let fuse_more_vicuna7b_clip_L_14_336_pretrain_padding = TrainConfig().with {
    $0.name = "fuse_more_vicuna7b_clip_L_14_336_pretrain_padding"
    $0.stage = .pretrain
    $0.llmNameOrPath = "PATH_TO_LLM"  // Vicuna-1.5-7B
    $0.visualEncoderNameOrPath = "PATH_TO_CLIP-ViT_MODEL"  // CLIP ViT-L/14-336
    $0.visualEncoderAuxName = "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"
    $0.visualEncoderAuxPath = "PATH_TO_CLIP-ConvNext-MODEL"
    $0.pretrainedPth = nil
    $0.dataPath = "PATH_TO_PERTRAIN_JSON"  // sic, upstream spelling
    $0.boxJsonPath = "PATH_TO_PRETRAIN_BBOX_JSON"  // inline in the dataset upstream
    $0.offlineProcessedTextFolder = nil
    $0.imageFolder = "data"
    $0.promptTemplate = "vicuna"
    $0.maxLength = 2048 - (336 / 14) * (336 / 14)  // 1472: room for the 576 image tokens
    $0.imageSizeAux = 768
    $0.limitNum = 100  // not set upstream → the dataset default
    $0.padImageToSquare = true
    $0.batchSize = 32  // per device; 8 GPUs → 256 per iteration
    $0.accumulativeCounts = 1
    $0.dataloaderNumWorkers = 4
    $0.maxEpochs = 1
    $0.lr = 1e-3
    $0.betas = [0.9, 0.999]
    $0.weightDecay = 0
    $0.maxNorm = 1
    $0.warmupRatio = 0.03
    $0.saveSteps = 500
    $0.saveTotalLimit = 2
    $0.evaluationFreq = 500
    $0.freezeLLM = true
    $0.freezeVisualEncoder = true
    $0.sampler = .random  // DefaultSampler(shuffle=True)
    $0.pinMemory = true
    $0.seed = 2024  // script/train_vicuna7B.sh passes --seed 2024
    $0.evaluateMaxTokens = nil
    $0.valDataset = nil
}
