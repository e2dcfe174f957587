#!/usr/bin/env python3
"""A load test of `mgllava serve` from the same machine (development only; the product never runs Python).

Starts `mgllava serve` on the tiny fixture stack (`--max-queue`, default 8), then runs CLIENTS concurrent clients
(default 64) for SECONDS (default 120), each sending, in a loop, a random mix of: valid chat requests (plain and
streamed, text and with the fixture photo), malformed JSON, wrong types, unknown roles, undecodable images, bodies
over the limit, unknown paths, and streamed requests it hangs up on after the first chunk. Checks: the server never
dies; every valid request gets a 200 answer or a 503 with Retry-After (the queue was full); every invalid one gets
its 4xx JSON error; no leak: the server's RSS at the end is within TOLERANCE of its RSS half-way through the run
(by then the allocator's arenas and the in-flight bodies of 64 connections have reached their working size: measured,
RSS climbs for the first minute and is flat after; a leak keeps growing). Prints counts per outcome and the RSS
samples.

    python3 scripts/serve_load_test.py [--mgllava .build/release/mgllava] [--clients 64] [--seconds 120]
"""
import argparse
import base64
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
MODEL = ["--llm", f"{FIX}/models/vicuna-tiny", "--visual-encoder", f"{FIX}/models/clip-vit-tiny",
         "--visual-encoder-aux", f"{FIX}/models/convnext-tiny", "--pth", f"{FIX}/models/mgllava-tiny/sft.pth",
         "--tokenizer", f"{FIX}/tokenizers/vicuna-tiny", "--image-size-aux", "128"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(base, body, path="/v1/chat/completions", raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def hang_up(port, body):
    """A streamed request abandoned after its first chunk (or after 30 s)."""
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    try:
        head = s.recv(4096)
    except socket.timeout:
        head = b""
    s.close()
    return head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1") else "none"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build", "release", "mgllava"))
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--max-queue", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=0.10, help="allowed RSS growth after the run (fraction)")
    a = p.parse_args()

    server = subprocess.Popen([a.mgllava, "serve", *MODEL, "--port", "0", "--max-queue", str(a.max_queue),
                               "--max-body-mb", "2", "--max-tokens", "48"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline().strip()
    base = line.split("listening on ")[1]
    port = int(base.rsplit(":", 1)[1])
    for _ in range(600):
        try:
            if urllib.request.urlopen(base + "/health").status == 200:
                break
        except Exception:
            time.sleep(0.1)
    with open(f"{FIX}/preprocess/photo0.jpg", "rb") as f:
        uri = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
    photo = [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": "What is in the picture?"}]
    valid = [
        {"messages": [{"role": "user", "content": "Hello, who are you?"}], "max_tokens": 16},
        {"messages": [{"role": "user", "content": photo}], "max_tokens": 24},
        {"messages": [{"role": "user", "content": photo}], "max_tokens": 24, "stream": True},
        {"messages": [{"role": "user", "content": photo}], "boxes": [[10, 10, 100, 100]], "temperature": 0.7,
         "seed": 3, "max_tokens": 24},
    ]
    invalid = [
        (None, b'{"messages": [', 400), ({"messages": "hi"}, None, 400),
        ({"messages": [{"role": "wizard", "content": "x"}]}, None, 400),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}, None, 400),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}, None, 400),
        (None, b"{" + b" " * (3 << 20) + b"}", 413),
    ]

    for body in valid:
        request(base, body)
    samples = [rss_kib(server.pid)]
    counts, problems = Counter(), []
    lock = threading.Lock()
    stop_at = time.time() + a.seconds

    def client(seed):
        rng = random.Random(seed)
        while time.time() < stop_at:
            kind = rng.random()
            if kind < 0.45:
                body = rng.choice(valid)
                status, headers, data = request(base, body)
                ok = status == 200 or (status == 503 and headers.get("Retry-After"))
                outcome = f"valid {status}"
            elif kind < 0.85:
                body, raw, want = rng.choice(invalid)
                status, headers, data = request(base, body, raw=raw)
                ok = status == want and b'"error"' in data
                outcome = f"invalid {status}"
            elif kind < 0.95:
                status = hang_up(port, dict(rng.choice(valid[1:3]), stream=True, max_tokens=48))
                ok = status in ("200", "503")
                outcome = f"hang-up {status}"
            else:
                status, headers, data = request(base, None, path="/v1/nothing", raw=b"")
                ok = status == 404
                outcome = f"unknown path {status}"
            with lock:
                counts[outcome] += 1
                if not ok:
                    problems.append(f"{outcome}: {data[:200]!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(a.seconds / 8)
        samples.append(rss_kib(server.pid) if server.poll() is None else 0)
    for t in threads:
        t.join()
    rss_before = samples[len(samples) // 2]
    alive = server.poll() is None
    time.sleep(2)
    for body in valid:          # it still answers
        request(base, body)
    rss_after = rss_kib(server.pid) if alive else 0
    server.terminate()
    server.wait(timeout=30)

    print(f"{a.clients} clients for {a.seconds:.0f} s: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    print("server RSS (MiB) every eighth of the run: " + " ".join(f"{v / 1024:.0f}" for v in samples))
    print(f"server RSS half-way {rss_before / 1024:.1f} MiB, at the end {rss_after / 1024:.1f} MiB "
          f"({(rss_after / max(rss_before, 1) - 1) * 100:+.1f} %)")
    if not alive:
        sys.exit("FAIL: the server died")
    if problems:
        print("\n".join(problems[:20]))
        sys.exit(f"FAIL: {len(problems)} unexpected answers")
    if rss_after > rss_before * (1 + a.tolerance):
        sys.exit(f"FAIL: RSS grew more than {a.tolerance * 100:.0f} %")
    print("ok")


if __name__ == "__main__":
    main()
