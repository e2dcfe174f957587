#!/usr/bin/env python3
"""PyTorch CPU side-by-side for `mgllava bench vision` / `bench train-step` (development only; mgllava never needs it).

Same shapes, random weights, eager fp32, the same thread count. Plain torch modules with the architectures' exact
layer shapes (no transformers/timm needed):
  python3 scripts/bench_torch.py --threads 2
"""
import argparse, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class ViTLayer(nn.Module):
    def __init__(self, d=1024, heads=16, mlp=4096):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)
        self.heads = heads

    def forward(self, x):
        b, l, d = x.shape
        h = self.ln1(x)
        split = lambda t: t.view(b, l, self.heads, d // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        x = x + self.o(a.transpose(1, 2).reshape(b, l, d))
        h = self.fc1(self.ln2(x))
        return x + self.fc2(h * torch.sigmoid(1.702 * h))


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 1024, 14, 14, bias=False)
        self.cls = nn.Parameter(torch.randn(1024))
        self.pos = nn.Parameter(torch.randn(577, 1024))
        self.pre = nn.LayerNorm(1024)
        self.layers = nn.ModuleList(ViTLayer() for _ in range(24))

    def forward(self, px):
        x = self.patch(px).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.pos
        x = self.pre(x)
        for layer in self.layers:
            x = layer(x)
        return x


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.ones(c))

    def forward(self, x):
        h = self.dw(x).permute(0, 2, 3, 1)
        h = self.fc2(F.gelu(self.fc1(self.norm(h)))) * self.gamma
        return x + h.permute(0, 3, 1, 2)


class LN2d(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtL(nn.Module):
    def __init__(self, dims=(192, 384, 768, 1536), depths=(3, 3, 27, 3)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LN2d(dims[0], eps=1e-6))
        self.stages = nn.ModuleList()
        for i, (c, d) in enumerate(zip(dims, depths)):
            down = nn.Identity() if i == 0 else nn.Sequential(LN2d(dims[i - 1], eps=1e-6), nn.Conv2d(dims[i - 1], c, 2, 2))
            self.stages.append(nn.Sequential(down, *(Block(c) for _ in range(d))))

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for s in self.stages:
            x = s(x)
            outs.append(x)
        return outs


class LlamaLayer(nn.Module):
    """One Vicuna-7B decoder layer (RMSNorm, rotary attention, SiLU-gated MLP) plus a small LM head, as
    `mgllava bench train-step` builds it."""
    def __init__(self, d=4096, f=11008, heads=32, vocab=1000):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
        self.down = nn.Linear(f, d, bias=False)
        self.norm, self.head = nn.RMSNorm(d, eps=1e-5), nn.Linear(d, vocab, bias=False)
        self.heads = heads

    def forward(self, x):
        b, l, d = x.shape
        hd = d // self.heads
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(l).float(), inv)
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        rot = lambda t: t * cos + torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin
        h = self.n1(x)
        split = lambda t: t.view(b, l, self.heads, hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(rot(split(self.q(h))), rot(split(self.k(h))), split(self.v(h)), is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, l, d))
        h = self.n2(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return self.head(self.norm(x))


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seq", type=int, default=1024)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with torch.no_grad():
        vit = ViT().eval()
        t = best(lambda: vit(torch.randn(1, 3, 336, 336)), a.repeats)
        flops = 24 * (2 * 577 * 1024 * 1024 * 4 + 2 * 577 * 1024 * 4096 * 2 + 4 * 577 * 577 * 1024)
        print(f"torch CLIP ViT-L/14-336 batch 1: {t * 1e3:.1f} ms, {flops / t / 1e9:.1f} GFLOP/s")
        cnx = ConvNeXtL().eval()
        t = best(lambda: cnx(torch.randn(1, 3, 768, 768)), a.repeats)
        print(f"torch ConvNeXt-L at 768: {t * 1e3:.1f} ms")
        a_ = torch.randn(577, 1024); b_ = torch.randn(4096, 1024)
        t = best(lambda: a_ @ b_.T, 5)
        print(f"torch matmul 577x1024->4096: {2 * 577 * 1024 * 4096 / t / 1e9:.1f} GFLOP/s")
    layer = LlamaLayer()
    x = torch.randn(1, a.seq, 4096) * 0.1
    targets = torch.randint(0, 1000, (a.seq,))
    with torch.no_grad():
        t = best(lambda: layer(x), 2)
    print(f"torch 7B decoder layer, seq {a.seq}, forward: {t * 1e3:.1f} ms")

    def step():
        layer.zero_grad()
        F.cross_entropy(layer(x).view(-1, 1000), targets).backward()
    t = best(step, 2)
    print(f"torch 7B decoder layer, seq {a.seq}, forward+backward: {t * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
