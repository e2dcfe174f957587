// fuse_more_vicuna7b_clip_L_14_336_sft_lora over a 4-bit LLM: the QLoRA analogue of XTuner's
// llava_vicuna_7b_v15_qlora_* recipe, with llama.cpp's Q4_K (`mgllava quantize --llm lmsys/vicuna-7b-v1.5 --type q4_k
// --out vicuna-7b-v1.5-q4_k.gguf`) standing in for bitsandbytes' NF4. The base stays quantized and memory-mapped; the
// adapters' input gradients flow through it.
import MGTrain

public let fuse_more_vicuna7b_clip_L_14_336_sft_qlora = fuse_more_vicuna7b_clip_L_14_336_sft_lora.with {
    $0.name = "fuse_more_vicuna7b_clip_L_14_336_sft_qlora"
    $0.llmNameOrPath = "vicuna-7b-v1.5-q4_k.gguf"
}
