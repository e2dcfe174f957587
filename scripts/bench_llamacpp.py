#!/usr/bin/env python3
"""llama.cpp side by side with `mgllava bench decode` (development only; the product never runs Python).

Builds `llama-bench` from the llama.cpp source that the llama-cpp-python source distribution on PyPI vendors,
converts a random 16-bit HF LLM folder (written by `mgllava bench decode DIR --generate CONFIG`) to GGUF with that
source's own `convert_hf_to_gguf.py`, then runs `mgllava bench decode DIR` and, right after it, `llama-bench` on the
GGUF of the same weights, with the same thread count: its prefill from an empty cache, its decode after as many
positions as the prompt (`-d`), as `bench decode` decodes after its prompt. Prints both outputs and a summary with
the ratios.

    python3 scripts/bench_llamacpp.py --llm /tmp/v7b --llama-cpp /tmp/llamacpp/llama_cpp_python-0.3.36/vendor/llama.cpp

`--llama-cpp` is the unpacked sdist's `vendor/llama.cpp` (curl the sdist from PyPI's JSON API, `tar xzf` it);
the script configures and builds `llama-bench` there (`-DGGML_NATIVE=ON`, release) when it is missing. Needs
`cmake` (pip install cmake), numpy, safetensors and sentencepiece for the converter. The converter needs a
tokenizer: the Vicuna fixture's `tokenizer.model` is copied in when the folder has none (its vocabulary is padded
to the config's 32,000 entries; llama-bench feeds random token ids, so only the shapes matter).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def build_llama_bench(src):
    exe = os.path.join(src, "build", "bin", "llama-bench")
    if os.path.exists(exe):
        return exe
    cmake = shutil.which("cmake") or os.path.join(os.path.dirname(sys.executable), "cmake")
    run([cmake, "-B", "build", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
         "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DCMAKE_BUILD_TYPE=Release"], cwd=src)
    run([cmake, "--build", "build", "--target", "llama-bench", "-j", str(os.cpu_count() or 2)], cwd=src)
    return exe


def convert(src, llm, outtype):
    out = os.path.join(llm, f"model-{outtype}.gguf")
    if os.path.exists(out):
        return out
    if not os.path.exists(os.path.join(llm, "tokenizer.model")):
        shutil.copy(os.path.join(ROOT, "Tests/Fixtures/tokenizers/vicuna-tiny/tokenizer.model"), llm)
    env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
    run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), llm, "--outtype", outtype, "--outfile", out],
        env=env)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--llm", required=True, help="random 16-bit HF folder (mgllava bench decode DIR --generate …)")
    p.add_argument("--llama-cpp", required=True, help="the sdist's vendor/llama.cpp")
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build/release/mgllava"))
    p.add_argument("--type", default="bf16", choices=["bf16", "f16", "q8_0", "q4_k_m", "q4_k"],
                   help="GGUF tensor type: bf16/f16 converted by llama.cpp's converter; the quantized types written by "
                        "`mgllava bench decode --quant` (llama-quantize's types and blocks, bit for bit)")
    p.add_argument("--kernels", default="split,bf16", help="mgllava's kernels to time (bench decode --kernels)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--repetitions", type=int, default=1)
    a = p.parse_args()

    bench = build_llama_bench(a.llama_cpp)
    if a.type in ("bf16", "f16"):
        gguf = convert(a.llama_cpp, a.llm, a.type)
        # f16: mgllava times the same F16 GGUF with float32 activations (f32) and with f16 activations as llama.cpp
        # (the 16-bit kernel, "bf16"); bf16: the bf16 folder, with each kernel asked for.
        target, kernels = (gguf, "f32,bf16") if a.type == "f16" else (a.llm, a.kernels)
        ours = run([a.mgllava, "bench", "decode", target, "--kernels", kernels, "--prompt-tokens", str(a.prompt),
                    "--new-tokens", str(a.gen)]).stdout
    else:
        # The same file for both: mgllava writes it once (model-TYPE.gguf) and times it, then llama-bench reads it.
        ours = run([a.mgllava, "bench", "decode", a.llm, "--quant", a.type, "--prompt-tokens", str(a.prompt),
                    "--new-tokens", str(a.gen)]).stdout
        gguf = os.path.join(a.llm, f"model-{a.type}.gguf")
    print(ours)
    # `bench decode` decodes right after its prompt, so llama.cpp's decode runs at the same depth (`-d`; its tg
    # test alone starts from an empty cache, where attention reads nothing): pp at depth 0, tg at depth PROMPT.
    rows = []
    for args in (["-p", str(a.prompt), "-n", "0"], ["-p", "0", "-n", str(a.gen), "-d", str(a.prompt)]):
        rows += json.loads(run([bench, "-m", gguf, "-t", str(a.threads), *args, "-r", str(a.repetitions),
                                "-o", "json"]).stdout)
    summary = {}
    for row in rows:
        kind = "prefill" if row.get("n_prompt", 0) > 0 else "decode"
        summary[kind] = row["avg_ts"]
        print(f"llama.cpp {a.type} {kind} ({row.get('n_prompt') or row.get('n_gen')} tokens, "
              f"after {row.get('n_depth', 0)}): "
              f"{row['avg_ts']:.2f} tokens/s (± {row.get('stddev_ts', 0):.2f})")
    for line in ours.splitlines():
        m = re.match(r"([\w +]+): prefill [\d.]+ s = ([\d.]+) tokens/s .*decode \d+ tokens in [\d.]+ s = ([\d.]+)",
                     line)
        if m:
            kernel, pre, dec = m.group(1), float(m.group(2)), float(m.group(3))
            print(f"mgllava {kernel}: prefill {pre:.2f} tokens/s = {pre / summary['prefill']:.2f}× llama.cpp's; "
                  f"decode {dec:.3f} tokens/s = {dec / summary['decode']:.2f}× llama.cpp's")


if __name__ == "__main__":
    main()
