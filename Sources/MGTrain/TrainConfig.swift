// MGTrain — the trainer. This file: the experiment config (SPEC §3, DESIGN §5).
@_exported import MGData

/// One experiment, mirroring the variables of an upstream XTuner config file (`mg_llava/config/**.py`).
///
/// JSON keys are the upstream variable names (`llm_name_or_path`, `batch_size`, …) so a dump reads like the Python
/// file and `--set batch_size=8` uses the name a reader of the paper's configs knows. Property defaults are the
/// Vicuna-7B pretrain values (SPEC §3.2) with placeholder paths; they make `TrainConfig()` a complete base that a
/// partial JSON file can be patched over (synthesised `Decodable` ignores property defaults, DESIGN §5).
public struct TrainConfig: Codable, Sendable, Equatable {
    /// Training stage: decides what is frozen by default and which sampler upstream uses (SPEC §3.4).
    public enum Stage: String, Codable, Sendable, CaseIterable {
        case pretrain, sft
    }

    /// Batch sampler: upstream `DefaultSampler(shuffle=True)` or `LengthGroupedSampler(length_property='modality_length')`.
    public enum Sampler: String, Codable, Sendable, CaseIterable {
        case random
        case lengthGrouped = "length_grouped"
    }

    // MARK: - Identity

    /// The config's name: the upstream file's base name (also the default work-dir name, `work_dirs/<name>`).
    public var name = ""
    /// Which stage this config trains.
    public var stage = Stage.pretrain

    // MARK: - Models and data (relative paths are resolved against the directory the command runs in, as upstream)

    /// `llm_name_or_path`: the LLM checkpoint folder.
    public var llmNameOrPath = "PATH_TO_LLM"
    /// `visual_encoder_name_or_path`: the CLIP ViT-L/14-336 folder (also the image processor's source).
    public var visualEncoderNameOrPath = "PATH_TO_CLIP-ViT_MODEL"
    /// `visual_encoder_aux_name`: the open_clip model name of the high-resolution ConvNeXt.
    public var visualEncoderAuxName = "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"
    /// `visual_encoder_aux_path`: the ConvNeXt weights.
    public var visualEncoderAuxPath = "PATH_TO_CLIP-ConvNext-MODEL"
    /// `pretrained_pth`: the stage-1 checkpoint an SFT run starts from (loaded non-strictly): an upstream `.pth`, a
    /// safetensors file, one of our `iter_N` folders, or a work dir (its latest checkpoint); nil for pretraining.
    public var pretrainedPth: String? = nil
    /// `data_path`: the LLaVA-style conversation JSON.
    public var dataPath = "PATH_TO_PERTRAIN_JSON"
    /// `box_json_path`: the per-image box JSON (inline in the pretrain dataset upstream, a variable in SFT).
    public var boxJsonPath = "PATH_TO_PRETRAIN_BBOX_JSON"
    /// `offline_processed_text_folder`: pre-tokenised dataset folder; nil means tokenise on the fly.
    public var offlineProcessedTextFolder: String? = nil
    /// `image_folder`: root the JSON's image paths are relative to.
    public var imageFolder = "data"
    /// `prompt_template`: the name of a `PromptTemplate` (`vicuna`, `phi3_chat`, `llama3_chat`, `qwen_chat`).
    public var promptTemplate = "vicuna"
    /// `max_length`: token budget per sample, `2048 - (336 // 14) ** 2` = 1472 upstream (room for 576 image tokens).
    public var maxLength = 1472
    /// `image_size_aux`: the high-resolution input size of the ConvNeXt path.
    public var imageSizeAux = 768
    /// `limit_num`: at most this many boxes per image (the dataset default is 100 where the config omits it).
    public var limitNum = 100
    /// `pad_image_to_square`: pad to a square with the CLIP mean colour before resizing.
    public var padImageToSquare = true

    // MARK: - Optimisation

    /// `batch_size`: micro-batch per device (per rank).
    public var batchSize = 32
    /// `accumulative_counts`: gradient-accumulation steps per optimiser step.
    public var accumulativeCounts = 1
    /// `dataloader_num_workers`: loader threads.
    public var dataloaderNumWorkers = 4
    /// `max_epochs`.
    public var maxEpochs = 1
    /// `lr`: peak AdamW learning rate.
    public var lr = 1e-3
    /// `betas`: AdamW betas (two values).
    public var betas: [Double] = [0.9, 0.999]
    /// `weight_decay`: AdamW weight decay.
    public var weightDecay = 0.0
    /// `max_norm`: global gradient-norm clip.
    public var maxNorm = 1.0
    /// `warmup_ratio`: fraction of iterations with linear warmup from 1e-5·lr before the cosine decay.
    public var warmupRatio = 0.03
    /// `save_steps`: checkpoint interval in iterations.
    public var saveSteps = 500
    /// `save_total_limit`: checkpoints kept (-1 keeps all, as mmengine's `max_keep_ckpts`).
    public var saveTotalLimit = 2
    /// `evaluation_freq`: interval of the (upstream commented-out) sample-generation hook.
    public var evaluationFreq = 500

    // MARK: - Model and run options

    /// `model.freeze_llm`: true in pretraining, false in SFT (full fine-tune, SPEC §3.4).
    public var freezeLLM = true
    /// `model.freeze_visual_encoder`: CLIP stays frozen in both stages.
    public var freezeVisualEncoder = true
    /// `model.llm_lora`: LoRA adapters on the LLM (XTuner's `dict(r=…, lora_alpha=…, lora_dropout=…)`); the LLM's own
    /// weights then stay frozen and only the adapters (and the MG-LLaVA modules) train. nil: none.
    public var llmLoRA: LoRAConfig? = nil
    /// `model.visual_encoder_lora`: LoRA adapters on CLIP's linears (every one when `target_modules` is unset, as
    /// XTuner's `find_all_linear_names`); CLIP's own weights stay frozen, the ConvNeXt untouched.
    public var visualEncoderLoRA: LoRAConfig? = nil
    /// `model.use_activation_checkpointing`: recompute each LLM decoder layer's activations during backward instead
    /// of keeping them (upstream's `LLaVAModel` default, on in every config; SPEC §5). nil = that default (on).
    /// Changes memory and time, never the numbers.
    public var useActivationCheckpointing: Bool? = nil
    /// ZeRO stage under `mpirun` (DeepSpeed's `zero_optimization.stage`; upstream launches with ZeRO-2): 0 keeps a
    /// full AdamW state on every rank, 1 splits the moments over the ranks. Changes memory, not the numbers.
    public var zeroStage = 0
    /// Elements per gradient all-reduce / reduce-scatter / all-gather call under `mpirun` (DeepSpeed's
    /// `reduce_bucket_size`); nil = DDP's 25 MB (6,553,600 floats).
    public var reduceBucketSize: Int? = nil
    /// `train_dataloader.sampler`: random for pretraining, length-grouped for SFT.
    public var sampler = Sampler.random
    /// `pin_memory` of the dataloader (kept for fidelity; a CPU trainer may ignore it).
    public var pinMemory = true
    /// `randomness.seed`: None in the configs, but the launch scripts pass `--seed 2024`.
    public var seed: Int? = 2024
    /// `evaluate_max_tokens`: generation limit of the eval datasets where a config sets it (Vicuna-13B SFT: 50).
    public var evaluateMaxTokens: Int? = nil
    /// `val_dataloader.dataset`: the validation set an SFT config names (MMBench-DEV, MME for 13B); nil for none.
    public var valDataset: String? = nil

    public init() {}

    /// JSON keys: the upstream variable names.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, stage
        case llmNameOrPath = "llm_name_or_path"
        case visualEncoderNameOrPath = "visual_encoder_name_or_path"
        case visualEncoderAuxName = "visual_encoder_aux_name"
        case visualEncoderAuxPath = "visual_encoder_aux_path"
        case pretrainedPth = "pretrained_pth"
        case dataPath = "data_path"
        case boxJsonPath = "box_json_path"
        case offlineProcessedTextFolder = "offline_processed_text_folder"
        case imageFolder = "image_folder"
        case promptTemplate = "prompt_template"
        case maxLength = "max_length"
        case imageSizeAux = "image_size_aux"
        case limitNum = "limit_num"
        case padImageToSquare = "pad_image_to_square"
        case batchSize = "batch_size"
        case accumulativeCounts = "accumulative_counts"
        case dataloaderNumWorkers = "dataloader_num_workers"
        case maxEpochs = "max_epochs"
        case lr, betas
        case weightDecay = "weight_decay"
        case maxNorm = "max_norm"
        case warmupRatio = "warmup_ratio"
        case saveSteps = "save_steps"
        case saveTotalLimit = "save_total_limit"
        case evaluationFreq = "evaluation_freq"
        case freezeLLM = "freeze_llm"
        case freezeVisualEncoder = "freeze_visual_encoder"
        case llmLoRA = "llm_lora"
        case visualEncoderLoRA = "visual_encoder_lora"
        case useActivationCheckpointing = "use_activation_checkpointing"
        case zeroStage = "zero_stage"
        case reduceBucketSize = "reduce_bucket_size"
        case sampler
        case pinMemory = "pin_memory"
        case seed
        case evaluateMaxTokens = "evaluate_max_tokens"
        case valDataset = "val_dataset"
    }

    /// A copy with `edit` applied: an SFT config is written as its pretrain config plus the upstream diff.
    public func with(_ edit: (inout TrainConfig) -> Void) -> TrainConfig {
        var copy = self
        edit(&copy)
        return copy
    }
}
