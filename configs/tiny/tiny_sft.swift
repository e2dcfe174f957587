// The embedded default's stage 2 (DESIGN §7): synthetic questions about the shapes, starting from tiny_pretrain's
// last checkpoint; the trainer issue fills in the data generation and the checkpoint file name.
import MGTrain

public let tiny_sft = tiny_pretrain.with {
    $0.name = "tiny_sft"
    $0.stage = .sft
    $0.pretrainedPth = "work_dirs/tiny_pretrain/latest.pth"
    $0.dataPath = "synthetic/sft.json"
    $0.boxJsonPath = "synthetic/sft_boxes.json"
    // A tiny LLM fine-tuned in a few hundred steps needs far more than upstream's 2e-5 to move measurably.
    $0.lr = 3e-4
    $0.freezeLLM = false
    $0.sampler = .lengthGrouped
    $0.valDataset = "synthetic/mmbench_dev.tsv"
}
