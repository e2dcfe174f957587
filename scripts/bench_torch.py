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


class Phi3Layer(nn.Module):
    """One Phi-3-mini decoder layer: fused qkv and gate_up projections, RMSNorm, rotary attention, SiLU gate."""
    def __init__(self, d=3072, f=8192, heads=32):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(d, eps=1e-5), nn.RMSNorm(d, eps=1e-5)
        self.qkv, self.o = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.gate_up, self.down = nn.Linear(d, 2 * f, bias=False), nn.Linear(f, d, bias=False)
        self.heads = heads

    def forward(self, x, cos, sin):
        b, l, d = x.shape
        hd = d // self.heads
        rot = lambda t: t * cos + torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1) * sin
        q, k, v = self.qkv(self.n1(x)).split(d, -1)
        split = lambda t: t.view(b, l, self.heads, hd).transpose(1, 2)
        a = F.scaled_dot_product_attention(rot(split(q)), rot(split(k)), split(v), is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, l, d))
        g, u = self.gate_up(self.n2(x)).chunk(2, -1)
        return x + self.down(F.silu(g) * u)


class Phi3Stack(nn.Module):
    """`mgllava bench stack-step --llm phi3-mini --layers N --stage sft --no-checkpointing`: the frozen towers
    (CLIP up to hidden state -2, ConvNeXt-L at 768, no graph), a Conv-Gate-shaped fusion, the two projectors and a
    Phi-3-mini-shaped LLM with N layers, trained. Box features are random stand-ins here (torch has no RoIAlign
    without torchvision; ours take ~50 ms)."""
    def __init__(self, layers, vocab=32064, d=3072):
        super().__init__()
        self.vit, self.cnx = ViT(), ConvNeXtL()
        self.vit.layers = self.vit.layers[:23]
        for p in list(self.vit.parameters()) + list(self.cnx.parameters()):
            p.requires_grad_(False)
        self.slow = nn.Sequential(nn.Conv2d(1536, 1536, 1), nn.Conv2d(1536, 1024, 1))
        self.fast = nn.Sequential(nn.Conv2d(1024, 1024, 7, padding=3, groups=1024), nn.Conv2d(1024, 1024, 1))
        self.gate = nn.Sequential(nn.Linear(2048, 512), nn.GELU(), nn.Linear(512, 1))
        self.proj = nn.Sequential(nn.Linear(1024, d), nn.GELU(), nn.Linear(d, d))
        self.bbox_proj = nn.Sequential(nn.Linear(2880, d), nn.GELU(), nn.Linear(d, d))
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Phi3Layer() for _ in range(layers))
        self.norm, self.head = nn.RMSNorm(d, eps=1e-5), nn.Linear(d, vocab, bias=False)

    def forward(self, px, px_aux, boxes, ids, labels):
        with torch.no_grad():
            low = self.vit(px)[:, 1:]                                   # [1, 576, 1024]
            high = self.cnx(px_aux)[3]                                  # [1, 1536, 24, 24]
        lowmap = low.transpose(1, 2).reshape(1, 1024, 24, 24)
        slow = self.slow(high).flatten(2).transpose(1, 2)
        fast = self.fast(lowmap).flatten(2).transpose(1, 2)
        g = torch.sigmoid(self.gate(torch.cat([low, slow], -1)))
        fused = low + fast + g * slow
        x = torch.cat([self.embed(ids[:, :1]), self.proj(fused), self.bbox_proj(boxes)[None], self.embed(ids[:, 1:])], 1)
        l, hd = x.shape[1], 3072 // 32
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(l).float(), inv)
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits = self.head(self.norm(x))
        return F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)


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
    p.add_argument("--phi3-layers", type=int, default=2, help="0 skips the Phi-3 stack step")
    p.add_argument("--only-phi3", action="store_true")
    p.add_argument("--detector", default="", help="b16,l14: only OWLv2 side by side with `mgllava bench detector`")
    p.add_argument("--tagger", default="", metavar="RAM_SRC",
                   help="only RAM++ side by side with `mgllava bench tagger`: the folder holding recognize-anything's "
                        "`ram/` package (its code is imported, with upstream's own configs and tag list)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.detector:
        for name in a.detector.split(","):
            owlv2(name, a.repeats)
        return
    if a.tagger:
        ram_plus_tagger(a.tagger, a.repeats)
        return
    if a.phi3_layers:
        phi3_step(a.phi3_layers)
    if a.only_phi3:
        return
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


def owlv2(name, repeats, queries=20):
    """transformers' Owlv2ForObjectDetection (random weights) on what `mgllava bench detector` times: the image
    side, the class head against 20 query embeddings and the box head (no text tower, no objectness)."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection
    if name == "b16":
        config = Owlv2Config(vision_config=dict(image_size=960))
    else:
        config = Owlv2Config(
            text_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12),
            vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16, image_size=1008, patch_size=14),
            projection_dim=768)
    model = Owlv2ForObjectDetection(config).eval()
    side = config.vision_config.image_size
    pixels = torch.randn(1, 3, side, side)
    q = F.normalize(torch.randn(1, queries, config.projection_dim), dim=-1)

    def detect():
        feats, _ = model.image_embedder(pixels)
        b, h, w, d = feats.shape
        flat = feats.reshape(b, h * w, d)
        logits, _ = model.class_predictor(flat, q, None)
        boxes = model.box_predictor(flat, feats)
        return logits.max(-1).values.sigmoid(), boxes

    with torch.no_grad():
        t = best(detect, repeats)
    print(f"torch OWLv2-{name.upper()} at {side}, detect ({queries} queries): {t:.2f} s")


def ram_plus_tagger(ram_src, repeats):
    """recognize-anything's RAM_plus (swin_l at 384, its 4,585 tags; random weights) tagging one image, as
    `mgllava bench tagger` times it: `generate_tag` on a [1, 3, 384, 384] tensor."""
    import importlib
    import io
    import sys
    from contextlib import redirect_stdout

    class StandIn:  # bert-base-uncased is on the hub; only len(tokenizer) is used before the embeddings go
        def __len__(self):
            return 30524

    sys.path.insert(0, ram_src)
    module = importlib.import_module("ram.models.ram_plus")
    module.init_tokenizer = lambda *args, **kwargs: StandIn()
    with redirect_stdout(io.StringIO()):
        model = module.RAM_plus(image_size=384, vit="swin_l").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.04, 0.04)
    pixels = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        t = best(lambda: model.generate_tag(pixels), repeats)
    print(f"torch RAM++ Swin-L at 384, tag one image: {t:.2f} s")


def phi3_step(layers, text=256, boxes=100):
    model = Phi3Stack(layers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=2e-5, weight_decay=0)
    ids = torch.randint(3, 32064, (1, 1 + text))
    labels = torch.cat([torch.full((1, 1 + 576 + boxes), -100), ids[:, 1:]], 1)
    px, px_aux, bx = torch.randn(1, 3, 336, 336), torch.randn(1, 3, 768, 768), torch.randn(boxes, 2880)

    def step():
        opt.zero_grad()
        model(px, px_aux, bx, ids, labels).backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
    t = best(step, 1)
    seq = 1 + 576 + boxes + text
    print(f"torch phi3-mini stack, sft step ({layers} of 32 layers), seq {seq}: {t:.2f} s, {seq / t:.0f} tokens/s")


if __name__ == "__main__":
    main()
