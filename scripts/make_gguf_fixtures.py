#!/usr/bin/env python3
"""Regenerates Tests/Fixtures/gguf (development only; the product and its tests never run Python).

Uses llama.cpp from the llama-cpp-python source distribution on PyPI (the same tree `scripts/bench_llamacpp.py`
builds): its `convert_hf_to_gguf.py` (with its own `gguf-py`) turns the vicuna-tiny fixture into F32, BF16 and Q8_0
GGUF files (and phi3-tiny to F32), its `llama-tokenize` tokenizes a set of texts with the GGUF vocabulary (the reference for
`GGUFLLM.tokenizer()`), and its `llama-perplexity` measures perplexity (F32 and Q8_0) and the Q8_0 file's KL
divergence from the F32 one on `corpus.txt` (the first 6000 bytes of the project's LICENSE) with 128-token chunks:
the reference for `mgllava eval perplexity`.

A second model, `llama-256` (random LLaMA weights from torch with seed 7: hidden 256, intermediate 480, 2 layers,
4 heads with 2 KV heads, vocabulary 700), has rows of whole 256-blocks where the K-quants need them and ffn_down
rows of 480 where they fall back: its F16 GGUF (from the converter) and `llama-quantize`'s Q4_K_M and Q8_0 of it hold every
block type mgllava reads (Q4_K, Q6_K, Q5_0 and Q8_0 fallbacks) — the reference for the quantizers, bit for bit.

    python3 scripts/make_gguf_fixtures.py --llama-cpp /tmp/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp

Build the tools first: cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && cmake --build build --target
llama-tokenize llama-quantize.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/Fixtures/gguf")

TEXTS = [
    "Hello world, this is a test.",
    " leading space",
    "two  spaces and\nnew lines\n\n",
    "h\u00e9llo w\u00f6rld \u4f60\u597d \U0001F600",
    "USER: what is in the picture?</s>ASSISTANT: a cat",
    "<s>bos inside",
    "1234567890 numbers",
]


def run(cmd, **kw):
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--llama-cpp", required=True, help="the sdist's vendor/llama.cpp, with build/bin built")
    args = p.parse_args()
    src = args.llama_cpp
    bin_dir = os.path.join(src, "build", "bin")
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "vicuna-tiny")
        shutil.copytree(os.path.join(ROOT, "Tests/Fixtures/models/vicuna-tiny"), folder)
        for name in os.listdir(os.path.join(ROOT, "Tests/Fixtures/tokenizers/vicuna-tiny")):
            shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/vicuna-tiny", name), folder)
        env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
        for outtype in ["f32", "bf16", "q8_0"]:
            out = os.path.join(OUT, f"vicuna-tiny-{outtype}.gguf")
            run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), folder, "--outtype", outtype,
                 "--outfile", out], env=env)
        phi3 = os.path.join(tmp, "phi3-tiny")
        shutil.copytree(os.path.join(ROOT, "Tests/Fixtures/models/phi3-tiny"), phi3)
        for name in os.listdir(os.path.join(ROOT, "Tests/Fixtures/tokenizers/phi3-tiny")):
            shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/phi3-tiny", name), phi3)
        run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), phi3, "--outtype", "f32",
             "--outfile", os.path.join(OUT, "phi3-tiny-f32.gguf")], env=env)
    tokens = []
    for text in TEXTS:
        r = run([os.path.join(bin_dir, "llama-tokenize"), "-m", os.path.join(OUT, "vicuna-tiny-f32.gguf"), "-p", text,
                 "--ids", "--log-disable"])
        ids = json.loads(r.stdout.strip().splitlines()[-1])
        tokens.append({"text": text, "ids": ids})
    with open(os.path.join(OUT, "vicuna-tiny-llamacpp-tokens.json"), "w") as f:
        rows = ",\n  ".join(json.dumps(t, ensure_ascii=False) for t in tokens)
        f.write('{"tool": "llama-tokenize (parse special, add BOS)",\n "cases": [\n  ' + rows + "\n ]\n}\n")
    llama256(src, bin_dir)
    perplexity(bin_dir)


def llama256(src, bin_dir):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(7)
    config = LlamaConfig(vocab_size=700, hidden_size=256, intermediate_size=480, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.08)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "llama-256")
        model.save_pretrained(folder, safe_serialization=True)
        for name in os.listdir(os.path.join(ROOT, "Tests/Fixtures/tokenizers/vicuna-tiny")):
            shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/vicuna-tiny", name), folder)
        env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
        f16 = os.path.join(OUT, "llama-256-f16.gguf")
        run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), folder, "--outtype", "f16", "--outfile", f16],
            env=env)
    for kind in ["Q4_K_M", "Q8_0"]:
        run([os.path.join(bin_dir, "llama-quantize"), f16, os.path.join(OUT, f"llama-256-{kind.lower()}.gguf"), kind, "2"])


def perplexity(bin_dir):
    """llama-perplexity's running estimates after each chunk (so a test can stop after a few), for the F32 runs and,
    against them, the quantized runs' per-chunk PPL(Q), mean KL divergence and same-top-token fraction."""
    corpus = os.path.join(OUT, "corpus.txt")
    with open(os.path.join(ROOT, "LICENSE"), "rb") as f:
        data = f.read(6000)
    with open(corpus, "wb") as f:
        f.write(data)
    tool = os.path.join(bin_dir, "llama-perplexity")
    result = {"tool": "llama-perplexity -c 128 -t 2 (values after chunk 1, 2, …)", "context": 128}

    def base_run(model, kld):
        r = run([tool, "-m", os.path.join(OUT, model), "-f", corpus, "-c", "128", "-t", "2",
                 "--kl-divergence-base", kld])
        return [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", r.stdout + r.stderr)]

    def kl_run(model, kld):
        cmd = [tool, "-m", os.path.join(OUT, model), "-f", corpus, "-c", "128", "-t", "2",
               "--kl-divergence-base", kld, "--kl-divergence"]
        print("$", " ".join(cmd), flush=True)
        out = subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
        rows = re.findall(r"^\s*\d+\s+([0-9.]+) ±\s+[0-9.]+\s+-?[0-9.]+ ±\s+[0-9.]+\s+([0-9.]+) ±\s+[0-9.]+"
                          r"\s+[0-9.]+ ±\s+[0-9.]+ %\s+([0-9.]+) ±", out, re.M)
        assert len(rows) == 25, f"{model}: {len(rows)} chunk rows"
        return {"perplexity": [float(a) for a, _, _ in rows], "mean_kl": [float(b) for _, b, _ in rows],
                "same_top": [float(c) / 100 for _, _, c in rows]}

    with tempfile.TemporaryDirectory() as tmp:
        kld = os.path.join(tmp, "base.kld")
        result["vicuna-tiny-f32"] = {"perplexity": base_run("vicuna-tiny-f32.gguf", kld)}
        result["vicuna-tiny-q8_0"] = kl_run("vicuna-tiny-q8_0.gguf", kld)
        result["llama-256-f16"] = {"perplexity": base_run("llama-256-f16.gguf", kld)}
        result["llama-256-q4_k_m"] = kl_run("llama-256-q4_k_m.gguf", kld)
        result["llama-256-q8_0"] = kl_run("llama-256-q8_0.gguf", kld)
    with open(os.path.join(OUT, "llamacpp-perplexity.json"), "w") as f:
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in result.items()) + "\n}\n")


if __name__ == "__main__":
    main()
