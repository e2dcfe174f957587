// The embedded default's stage 2 (DESIGN §7): synthetic questions about the shapes (most in the MMBench prompt
// format), starting from the latest checkpoint in tiny_pretrain's work dir.
import MGTrain

public let tiny_sft = tiny_pretrain.with {
    $0.name = "tiny_sft"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/tiny_pretrain"
    $0.dataPath = "work_dirs/tiny_data/sft.json"
    $0.boxJsonPath = "work_dirs/tiny_data/sft_boxes.json"
    // A tiny LLM fine-tuned in a few hundred steps needs far more than upstream's 2e-5 to move measurably.
    $0.lr = 3e-4
    $0.freezeLLM = false
    $0.sampler = .lengthGrouped
    $0.valDataset = "work_dirs/tiny_data/mmbench_dev.tsv"
}
