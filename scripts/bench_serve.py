#!/usr/bin/env python3
"""Tokens/s through `mgllava serve` against `mgllava chat` on the same model (development only).

Starts `mgllava serve` once, then alternates ROUNDS times: `mgllava chat --timings` (one-shot; its `timings:` line)
and the same request through the server (its `timings` object), both greedy, same image, boxes, question and
max tokens. Reports the median prefill and decode tokens/s of each and their ratios, plus the server's whole-request
wall time against chat's prefill + decode + visual time (what HTTP, JSON and base64 add).

    python3 scripts/bench_serve.py [--mgllava .build/release/mgllava] [--rounds 10]            # tiny fixture stack
    python3 scripts/bench_serve.py --model "--llm /tmp/v7b/model-q4_k_m.gguf --visual-encoder /tmp/v7b-clip \\
        --visual-encoder-aux /tmp/v7b-convnext --pth /tmp/v7b-modules.safetensors" --image /tmp/photo768.jpg --rounds 2
"""
import argparse
import base64
import json
import os
import re
import shlex
import statistics
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
TINY = (f"--llm {FIX}/models/vicuna-tiny --visual-encoder {FIX}/models/clip-vit-tiny "
        f"--visual-encoder-aux {FIX}/models/convnext-tiny --pth {FIX}/models/mgllava-tiny/sft.pth "
        f"--tokenizer {FIX}/tokenizers/vicuna-tiny --image-size-aux 128")
QUESTION = "What is in the picture? Describe it in detail."


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build", "release", "mgllava"))
    p.add_argument("--model", default=TINY, help="chat's model flags, one string")
    p.add_argument("--image", default=f"{FIX}/preprocess/photo0.jpg")
    p.add_argument("--boxes", type=int, default=13, help="boxes given by hand (x=20+60i, y=30+40i, 200×180)")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=10)
    a = p.parse_args()
    model = shlex.split(a.model)
    boxes = [[20 + 60 * i, 30 + 40 * i, 220 + 60 * i, 210 + 40 * i] for i in range(a.boxes)]

    server = subprocess.Popen([a.mgllava, "serve", *model, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    base = server.stdout.readline().strip().split("listening on ")[1]
    while True:
        try:
            if urllib.request.urlopen(base + "/health").status == 200:
                break
        except Exception:
            time.sleep(0.2)
    with open(a.image, "rb") as f:
        uri = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
    body = json.dumps({"max_tokens": a.max_tokens, "boxes": boxes, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": QUESTION}]}]}).encode()
    chat_args = [a.mgllava, "chat", *model, "--image", a.image, "--prompt", QUESTION, "--timings",
                 "--max-new-tokens", str(a.max_tokens)]
    for b in boxes:
        chat_args += ["--box", ",".join(map(str, b))]

    rows = {"chat": [], "serve": []}
    try:
        for _ in range(a.rounds):
            err = subprocess.run(chat_args, check=True, capture_output=True, text=True).stderr
            m = re.search(r"visual ([\d.]+) s; prefill (\d+) tokens in ([\d.]+) s \(([\d.]+) tokens/s\); "
                          r"decode (\d+) tokens in ([\d.]+) s \(([\d.]+) tokens/s\)", err)
            # seconds from the rates: the printed seconds have two decimals, too few for the tiny model
            visual, n_pre, pre, n_dec, dec = (float(m.group(i)) for i in (1, 2, 4, 5, 7))
            rows["chat"].append((pre, dec, visual + n_pre / pre + n_dec / dec))
            t = time.time()
            req = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            reply = json.loads(urllib.request.urlopen(req, timeout=3600).read())
            wall = time.time() - t
            tm = reply["timings"]
            rows["serve"].append((tm["prompt_per_second"], tm["predicted_per_second"], wall))
    finally:
        server.terminate()
        server.wait(timeout=60)
    med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in rows.items()}
    for k in ("chat", "serve"):
        print(f"{k:5}: prefill {med[k][0]:.1f} tokens/s, decode {med[k][1]:.2f} tokens/s, "
              f"{'request wall' if k == 'serve' else 'visual + prefill + decode'} {med[k][2]:.3f} s "
              f"(median of {a.rounds})")
    print(f"serve / chat: prefill {med['serve'][0] / med['chat'][0]:.3f}, decode {med['serve'][1] / med['chat'][1]:.3f}, "
          f"time {med['serve'][2] / med['chat'][2]:.3f}")


if __name__ == "__main__":
    main()
