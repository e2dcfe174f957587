#!/usr/bin/env python3
"""LoRA reference data from PEFT on the tiny Vicuna fixture (development only; the product never runs Python).

Wraps Tests/Fixtures/models/vicuna-tiny (float32) with `peft.get_peft_model` — r 4, alpha 8, dropout 0, every linear
layer but lm_head (XTuner's find_all_linear_names) — sets every lora_B to seeded random values (PEFT starts B at 0,
which would test nothing), and writes Tests/Fixtures/lora/vicuna-tiny-r4/:
  adapter/            PEFT's own save_pretrained output (adapter_config.json, adapter_model.safetensors)
  reference.safetensors
    input_ids, labels          int64 [1, 12] (labels: the first 3 positions -100)
    logits                     the adapted model's logits
    loss                       HF's causal-LM loss
    grad.<key>                 the loss's gradient for every lora_A / lora_B (keys as PEFT saves them, without
                               "base_model.model.")
    after_step.<key>           every lora weight after one torch.optim.AdamW step (lr 1e-3, weight decay 0.01)
    merged.<key>               every adapted base weight after merge_and_unload() (of the saved adapter)
    merged_logits              the merged model's logits
and Tests/Fixtures/lora/vicuna-tiny-r4-save/: the same adapter on q_proj/v_proj with `modules_to_save=["lm_head",
"embed_tokens"]` (both modules set to seeded random weights after wrapping, as training would change them):
  adapter/            PEFT's save_pretrained output (the modules saved as base_model.model.lm_head.weight, …)
  reference.safetensors
    input_ids, logits          the adapted model's logits (eval)
    merged_logits              logits after merge_and_unload()
    merged.lm_head.weight, merged.model.embed_tokens.weight

    /work/venv-torch/bin/python scripts/make_lora_fixtures.py
"""
import os

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "Tests", "Fixtures", "models", "vicuna-tiny")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "lora", "vicuna-tiny-r4")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def save_adapter(model, folder):
    model.save_pretrained(folder)
    card = os.path.join(folder, "README.md")  # PEFT's model card template: not a fixture
    if os.path.exists(card):
        os.remove(card)


def main():
    torch.manual_seed(0)
    base = LlamaForCausalLM.from_pretrained(SRC, torch_dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, bias="none",
                        task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    os.makedirs(OUT, exist_ok=True)
    save_adapter(model, os.path.join(OUT, "adapter"))

    vocab = base.config.vocab_size
    input_ids = torch.randint(3, vocab, (1, 12), generator=gen)
    labels = input_ids.clone()
    labels[:, :3] = -100
    model.train()
    out = model(input_ids=input_ids, labels=labels)
    out.loss.backward()

    def short(name):  # PEFT's saved key: no "base_model.model." prefix, no ".default"
        return name.replace("base_model.model.", "", 1).replace(".default", "")

    ref = {"input_ids": input_ids, "labels": labels, "logits": out.logits.detach(), "loss": out.loss.detach()}
    lora = [(n, p) for n, p in model.named_parameters() if "lora_" in n]
    for n, p in lora:
        ref["grad." + short(n)] = p.grad.detach().clone()
    saved = {n: p.detach().clone() for n, p in lora}
    opt = torch.optim.AdamW([p for _, p in lora], lr=1e-3, weight_decay=0.01)
    opt.step()
    for n, p in lora:
        ref["after_step." + short(n)] = p.detach().clone()
    with torch.no_grad():  # merge the adapter as saved, not the stepped one
        for n, p in lora:
            p.copy_(saved[n])

    merged = model.merge_and_unload()
    merged.eval()
    for n, p in merged.named_parameters():
        if any(f".{t}." in n for t in TARGETS):
            ref["merged." + n] = p.detach().clone()
    with torch.no_grad():
        ref["merged_logits"] = merged(input_ids=input_ids).logits
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(OUT, "reference.safetensors"))
    print(f"wrote {OUT}: {len(lora)} lora tensors, loss {out.loss.item():.6f}")


def modules_to_save_fixture():
    out = OUT + "-save"
    torch.manual_seed(0)
    base = LlamaForCausalLM.from_pretrained(SRC, torch_dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], bias="none",
                        modules_to_save=["lm_head", "embed_tokens"], task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            elif "modules_to_save" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    os.makedirs(out, exist_ok=True)
    save_adapter(model, os.path.join(out, "adapter"))
    input_ids = torch.randint(3, base.config.vocab_size, (1, 12), generator=gen)
    model.eval()
    ref = {"input_ids": input_ids}
    with torch.no_grad():
        ref["logits"] = model(input_ids=input_ids).logits
        merged = model.merge_and_unload()
        ref["merged_logits"] = merged(input_ids=input_ids).logits
        ref["merged.lm_head.weight"] = merged.lm_head.weight.detach().clone()
        ref["merged.model.embed_tokens.weight"] = merged.model.embed_tokens.weight.detach().clone()
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(out, "reference.safetensors"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
    modules_to_save_fixture()
