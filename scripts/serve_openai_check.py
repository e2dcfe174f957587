#!/usr/bin/env python3
"""The official `openai` Python client against `mgllava serve` (development and CI; the product never runs Python).

Starts `mgllava serve` on the tiny fixture stack (`--port 0`, an API key), then through `openai.OpenAI`:
lists the models; asks about the fixture photo (a data: URI image part, boxes through `extra_body`) plainly and
streamed, and checks both answers equal the text `mgllava chat --json` gives for the same image, boxes, question and
seeded sampling; checks `usage` and `finish_reason`; checks a bad request raises `openai.BadRequestError` naming the
field, a wrong key `openai.AuthenticationError`; and that the server still answers afterwards.

    pip install openai
    python3 scripts/serve_openai_check.py [--mgllava .build/debug/mgllava]
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
MODEL = ["--llm", f"{FIX}/models/vicuna-tiny", "--visual-encoder", f"{FIX}/models/clip-vit-tiny",
         "--visual-encoder-aux", f"{FIX}/models/convnext-tiny", "--pth", f"{FIX}/models/mgllava-tiny/sft.pth",
         "--tokenizer", f"{FIX}/tokenizers/vicuna-tiny", "--image-size-aux", "128"]
PHOTO = f"{FIX}/preprocess/photo0.jpg"
QUESTION = "What is in the picture?"
BOXES = [[20, 30, 120, 150], [100, 40, 290, 200]]
KEY = "check-key"


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def chat_text(mgllava, temperature, seed, max_tokens):
    args = [mgllava, "chat", *MODEL, "--image", PHOTO, "--prompt", QUESTION, "--json",
            "--temperature", str(temperature), "--seed", str(seed), "--max-new-tokens", str(max_tokens)]
    for box in BOXES:
        args += ["--box", ",".join(str(v) for v in box)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["text"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build", "debug", "mgllava"))
    a = p.parse_args()

    server = subprocess.Popen([a.mgllava, "serve", *MODEL, "--port", "0", "--api-key", KEY, "--alias", "tiny"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            fail(f"first line {line!r}; stderr: {server.stderr.read()}")
        base = line.split("listening on ")[1]
        for _ in range(600):
            try:
                if urllib.request.urlopen(base + "/health").status == 200:
                    break
            except Exception:
                time.sleep(0.1)
        client = openai.OpenAI(base_url=base + "/v1", api_key=KEY)

        models = [m.id for m in client.models.list()]
        if models != ["tiny"]:
            fail(f"models {models}")

        with open(PHOTO, "rb") as f:
            uri = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
        messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}},
                                                 {"type": "text", "text": QUESTION}]}]
        for temperature, seed in ((0, 0), (0.8, 7)):
            expected = chat_text(a.mgllava, temperature, seed, 24)
            reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=24,
                                                   temperature=temperature, seed=seed, extra_body={"boxes": BOXES})
            got = reply.choices[0].message.content
            if got != expected:
                fail(f"temperature {temperature}: served {got!r} != chat {expected!r}")
            if reply.usage.completion_tokens <= 0 or reply.choices[0].finish_reason not in ("stop", "length"):
                fail(f"usage {reply.usage}, finish_reason {reply.choices[0].finish_reason}")
            stream = client.chat.completions.create(model="tiny", messages=messages, max_tokens=24,
                                                    temperature=temperature, seed=seed, stream=True,
                                                    stream_options={"include_usage": True},
                                                    extra_body={"boxes": BOXES})
            pieces, reasons, usage = [], [], None
            for chunk in stream:
                if chunk.usage:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                    if choice.finish_reason:
                        reasons.append(choice.finish_reason)
            streamed = "".join(pieces).strip()
            if streamed != expected:
                fail(f"temperature {temperature}: streamed {streamed!r} != chat {expected!r}")
            if len(reasons) != 1 or usage is None:
                fail(f"stream finish reasons {reasons}, usage {usage}")
            print(f"ok: temperature {temperature}, seed {seed}: plain and streamed answers equal chat's: {expected!r}")

        try:
            client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                           temperature=-1)
            fail("temperature -1 was accepted")
        except openai.BadRequestError as e:
            if "temperature" not in str(e):
                fail(f"the 400 does not name the field: {e}")
        try:
            openai.OpenAI(base_url=base + "/v1", api_key="wrong").models.list()
            fail("a wrong key was accepted")
        except openai.AuthenticationError:
            pass
        if client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=4).choices[0].message.content is None:
            fail("no answer after the errors")
        print("ok: errors raise openai.BadRequestError / AuthenticationError; the server still answers")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
