// The embedded default (DESIGN §7): a tiny MG-LLaVA stack trained on a synthetic dataset of coloured shapes, so
// `mgllava train pretrain` runs with no download. Paths are relative to the directory the command runs in (as
// upstream's `./data/…` paths); `train` generates `work_dirs/tiny_data` (images, captions, questions, boxes, an
// MMBench dev TSV) and `work_dirs/tiny_models` (random towers, Llama and tokenizer) on first use.
import MGTrain

public let tiny_pretrain = TrainConfig().with {
    $0.name = "tiny_pretrain"
    $0.stage = .pretrain
    $0.llmNameOrPath = "work_dirs/tiny_models/llm"
    $0.visualEncoderNameOrPath = "work_dirs/tiny_models/clip"
    $0.visualEncoderAuxName = "tiny-convnext"
    $0.visualEncoderAuxPath = "work_dirs/tiny_models/convnext"
    $0.pretrainedPth = nil
    $0.dataPath = "work_dirs/tiny_data/pretrain.json"
    $0.boxJsonPath = "work_dirs/tiny_data/pretrain_boxes.json"
    $0.offlineProcessedTextFolder = nil
    $0.imageFolder = "work_dirs/tiny_data/images"
    $0.promptTemplate = "vicuna"
    $0.maxLength = 256  // short synthetic captions plus the tiny CLIP's image tokens
    $0.imageSizeAux = 128
    $0.limitNum = 8  // a synthetic image holds only a few shapes
    $0.padImageToSquare = true
    $0.batchSize = 8
    $0.accumulativeCounts = 1
    $0.dataloaderNumWorkers = 0  // 2-core CI: decoding tiny images inline is cheaper than threads
    $0.maxEpochs = 2  // 500 steps over 2000 synthetic captions
    $0.lr = 1e-3  // only the small projectors and fuse module train: upstream's stage-1 rate suits them
    $0.betas = [0.9, 0.999]
    $0.weightDecay = 0
    $0.maxNorm = 1
    $0.warmupRatio = 0.03
    $0.saveSteps = 100
    $0.saveTotalLimit = 2
    $0.evaluationFreq = 100
    $0.freezeLLM = true
    $0.freezeVisualEncoder = true
    $0.useActivationCheckpointing = false  // 3 layers of width 128: the recompute would cost time and save nothing
    $0.sampler = .random
    $0.pinMemory = false
    $0.seed = 2024
    $0.evaluateMaxTokens = nil
    $0.valDataset = nil
}
