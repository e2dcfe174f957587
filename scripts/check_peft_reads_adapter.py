#!/usr/bin/env python3
"""PEFT reads mgllava's LoRA adapter folder and gives mgllava's numbers (development only).

Takes an adapter folder that mgllava wrote (`mgllava convert --lora-adapter WORK_DIR OUT`, or `PEFTAdapter.save`)
and its base HF LLM folder, loads them with `PeftModel.from_pretrained` (transformers + peft), and computes the
perplexity of a text file as llama-perplexity chunks it (the text tokenized with BOS, each chunk's first token
replaced by BOS, the second half of each chunk scored) — the numbers `mgllava eval perplexity --llm BASE --adapter OUT --data TEXT --context C` prints — then runs
that command and compares: the perplexities must agree to 1e-4 relative. Also checks the merged model
(`merge_and_unload`) gives the same perplexity.

    python3 scripts/check_peft_reads_adapter.py --base work_dirs/tiny_models/llm --adapter OUT --data LICENSE \\
        [--mgllava .build/release/mgllava] [--context 128]
"""
import argparse
import math
import os
import re
import subprocess
import sys

import torch
from peft import PeftModel
from transformers import AutoTokenizer, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def perplexity(model, ids, context, bos):
    nll, count = 0.0, 0
    for start in range(0, len(ids) - context + 1, context):
        chunk = [bos] + ids[start + 1:start + context]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([chunk])).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        first = context // 2
        for t in range(first, context - 1):
            nll -= logp[t, chunk[t + 1]].item()
            count += 1
    return math.exp(nll / count)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--adapter", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build", "release", "mgllava"))
    a = p.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(a.base)
    text = open(a.data, encoding="utf-8").read()
    ids = tokenizer(text)["input_ids"]  # with BOS, as llama-perplexity (and mgllava) tokenize the text
    base = LlamaForCausalLM.from_pretrained(a.base, torch_dtype=torch.float32)
    model = PeftModel.from_pretrained(base, a.adapter).eval()
    theirs = perplexity(model, ids, a.context, tokenizer.bos_token_id)
    merged = perplexity(model.merge_and_unload().eval(), ids, a.context, tokenizer.bos_token_id)
    out = subprocess.run([a.mgllava, "eval", "perplexity", "--llm", a.base, "--adapter", a.adapter, "--data", a.data,
                          "--context", str(a.context)], check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("perplexity "))
    ours = float(re.match(r"perplexity ([\d.]+)", line).group(1))
    print(f"PEFT {theirs:.4f} (merged {merged:.4f}), mgllava {ours:.4f}")
    for name, value in (("PEFT", theirs), ("PEFT merged", merged)):
        if abs(value - ours) > 1e-4 * ours:
            sys.exit(f"FAIL: {name} perplexity {value:.6f} vs mgllava {ours:.6f}")
    print("ok")


if __name__ == "__main__":
    main()
