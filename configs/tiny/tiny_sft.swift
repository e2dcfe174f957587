// The embedded default's stage 2 (DESIGN §7): synthetic questions about the shapes (most in the MMBench prompt
// format), starting from the latest checkpoint in tiny_pretrain's work dir.
import MGTrain

public let tiny_sft = tiny_pretrain.with {
    $0.name = "tiny_sft"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/tiny_pretrain"
    $0.dataPath = "work_dirs/tiny_data/sft.json"
    $0.boxJsonPath = "work_dirs/tiny_data/sft_boxes.json"
    // The tiny LLM learns the task from scratch here (its weights are random), so it needs a from-scratch rate,
    // not upstream's fine-tuning 2e-5, and several passes: 6000 records (3000 images × 3 questions + 3000
    // look-up drills) × 6 epochs = 4500 iterations. Measured on 2 cores: 4 epochs reach 49 % circular MMBench,
    // 6 epochs 81–91 % (the look-up and the recognition keep sharpening well after the loss looks flat; the exact
    // figure moves with last-bit numeric changes).
    $0.lr = 1e-3
    $0.maxEpochs = 6
    $0.saveSteps = 500
    $0.freezeLLM = false
    $0.sampler = .lengthGrouped
    $0.valDataset = "work_dirs/tiny_data/mmbench_dev.tsv"
}
