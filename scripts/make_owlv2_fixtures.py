"""OWLv2 reference fixtures from transformers 4.44.2 (the version MG-LLaVA's box generation pinned).

Run:  PYTHONPATH=<site with transformers==4.44.2, tokenizers 0.19, scipy> python scripts/make_owlv2_fixtures.py
Writes Tests/Fixtures/owlv2/:
  owlv2-tiny/                 a tiny random Owlv2ForObjectDetection saved as an HF folder (config.json,
                              model.safetensors, pytorch_model.bin, preprocessor_config.json, CLIP tokenizer files)
  images/*.png                the test photos (landscape, portrait, odd sizes, grayscale)
  reference.safetensors       per image: raw RGB, pixel_values, vision last hidden state, feature map, query
                              embeddings, logits, objectness, pred boxes; the query ids and attention mask
  reference.json              per image: the post-processed boxes (.int()), scores, labels at two thresholds
  manifests/owlv2-{base,large}.json   key -> shape of Owlv2ForObjectDetection built from the published configs
"""
import json
import os
import re
from collections import Counter

import numpy as np
import torch
from PIL import Image
from safetensors.numpy import save_file
import transformers
from transformers import (CLIPTokenizer, CLIPTokenizerFast, Owlv2Config, Owlv2ForObjectDetection,
                          Owlv2ImageProcessor, Owlv2Processor)
from transformers.models.clip.tokenization_clip import bytes_to_unicode

assert transformers.__version__ == "4.44.2", transformers.__version__
ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "owlv2")
MODEL = os.path.join(ROOT, "owlv2-tiny")
IMAGES = os.path.join(ROOT, "images")
SIZE = 64  # the tiny model's image size (patch 8 -> an 8 x 8 grid)
TAGS = ["cat", "dog", "traffic light", "teddy bear", "remote", "person", "t-shirt", "café"]
rng = np.random.default_rng(20261207)
torch.manual_seed(20261207)

# --- a tiny CLIP tokenizer in CLIP's own file format: 256 bytes, 256 bytes + "</w>", learned merges, specials ---
CORPUS = """a photo of a cat. a photo of a dog. a photo of a traffic light on the street. a teddy bear and a
remote on the sofa. the person wears a t-shirt in the café. photos of cats, dogs and people; lights, bears,
remotes and shirts. A PHOTO OF THE TRAFFIC! it's the dog's bear, isn't it? 123 apples and 45 oranges."""
PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""")
byte_encoder = bytes_to_unicode()
words = Counter()
for token in PATTERN.findall(CORPUS.lower()):
    chars = [byte_encoder[b] for b in token.encode("utf-8")]
    words[tuple(chars[:-1] + [chars[-1] + "</w>"])] += 1
merges = []
for _ in range(120):
    pairs = Counter()
    for word, count in words.items():
        for pair in zip(word, word[1:]):
            pairs[pair] += count
    if not pairs:
        break
    best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
    merges.append(best)
    merged = Counter()
    for word, count in words.items():
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        merged[tuple(out)] += count
    words = merged
vocab_list = list(byte_encoder.values())
vocab_list += [v + "</w>" for v in vocab_list]
vocab_list += ["".join(m) for m in merges]
vocab_list += ["<|startoftext|>", "<|endoftext|>"]
os.makedirs(MODEL, exist_ok=True)
tmp_tok = os.path.join(ROOT, "_slow_tokenizer")
os.makedirs(tmp_tok, exist_ok=True)
with open(os.path.join(tmp_tok, "vocab.json"), "w") as f:
    json.dump({t: i for i, t in enumerate(vocab_list)}, f, ensure_ascii=False)
with open(os.path.join(tmp_tok, "merges.txt"), "w") as f:
    f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
slow = CLIPTokenizer(os.path.join(tmp_tok, "vocab.json"), os.path.join(tmp_tok, "merges.txt"), pad_token="!",
                     model_max_length=16)
fast = CLIPTokenizerFast.from_pretrained(tmp_tok, pad_token="!", model_max_length=16, from_slow=True)
for name in os.listdir(tmp_tok):
    os.remove(os.path.join(tmp_tok, name))
os.rmdir(tmp_tok)
assert fast.pad_token_id == 0 and fast.eos_token_id == len(vocab_list) - 1

# --- the tiny model: the real architecture, random weights large enough that every part matters ---
config = Owlv2Config(
    text_config=dict(vocab_size=len(vocab_list), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=16, bos_token_id=fast.bos_token_id,
                     eos_token_id=fast.eos_token_id, pad_token_id=0),
    vision_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                       image_size=SIZE, patch_size=8),
    projection_dim=32)
model = Owlv2ForObjectDetection(config).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if "layer_norm" in name or "layernorm" in name:
            p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
        elif name.endswith("logit_scale"):
            p.fill_(2.0)
        else:
            p.copy_(0.15 * torch.randn_like(p))
model.save_pretrained(MODEL, safe_serialization=True)
model.save_pretrained(MODEL, safe_serialization=False)
image_processor = Owlv2ImageProcessor(size={"height": SIZE, "width": SIZE})
processor = Owlv2Processor(image_processor=image_processor, tokenizer=fast)
processor.save_pretrained(MODEL)

# --- images: PNG files as a user would have them ---
os.makedirs(IMAGES, exist_ok=True)
def smooth_image(w, h, mode="RGB"):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1)
    noise = rng.integers(0, 60, size=(h, w, 3))
    arr = np.clip(base * 0.7 + noise, 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    return img.convert("L") if mode == "L" else img
cases = {"landscape": smooth_image(97, 61), "portrait": smooth_image(45, 120), "odd": smooth_image(33, 29),
         "grayscale": smooth_image(70, 52, "L"), "large": smooth_image(150, 110), "square": smooth_image(64, 64)}
tensors, reference = {}, {"transformers": transformers.__version__, "tags": TAGS,
                          "queries": ["a photo of " + t for t in TAGS], "images": {}}
queries = reference["queries"]
for name, img in cases.items():
    path = os.path.join(IMAGES, name + ".png")
    img.save(path)
    rgb = Image.open(path).convert("RGB")  # as image_offline_to_bbox.py opens it
    w, h = rgb.size
    inputs = processor(text=[queries], images=rgb, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=False)
    tensors[f"{name}.rgb"] = np.asarray(rgb, dtype=np.uint8)
    tensors[f"{name}.pixel_values"] = inputs["pixel_values"].numpy()
    tensors[f"{name}.vision_last_hidden_state"] = out.vision_model_output.last_hidden_state.numpy()
    tensors[f"{name}.image_embeds"] = out.image_embeds.numpy()
    tensors[f"{name}.logits"] = out.logits.numpy()
    tensors[f"{name}.objectness_logits"] = out.objectness_logits.numpy()
    tensors[f"{name}.pred_boxes"] = out.pred_boxes.numpy()
    tensors[f"{name}.class_embeds"] = out.class_embeds.numpy()
    if name == "landscape":
        tensors["input_ids"] = inputs["input_ids"].numpy().astype(np.int64)
        tensors["attention_mask"] = inputs["attention_mask"].numpy().astype(np.int64)
        tensors["text_embeds"] = out.text_embeds.numpy()
        tensors["text_pooler_output"] = out.text_model_output.pooler_output.numpy()
    side = max(w, h)
    scores_all = torch.sigmoid(out.logits.max(-1).values)[0]
    # Half-way between two neighbouring scores near the median: a threshold equal to a score would make the test
    # hinge on the last bit of that score.
    ordered = sorted(scores_all.tolist())
    k = len(ordered) // 2
    median = (ordered[k - 1] + ordered[k]) / 2
    entry = {"width": w, "height": h, "results": []}
    for threshold in (0.2, median):
        res = image_processor.post_process_object_detection(out, threshold=threshold, target_sizes=[[side, side]])[0]
        entry["results"].append({
            "threshold": threshold,
            "boxes": res["boxes"].int().tolist(),
            "scores": res["scores"].tolist(),
            "labels": [TAGS[i] for i in res["labels"].tolist()],
        })
    reference["images"][name] = entry
save_file(tensors, os.path.join(ROOT, "reference.safetensors"))
with open(os.path.join(ROOT, "reference.json"), "w") as f:
    json.dump(reference, f, indent=1, ensure_ascii=False)

# --- key manifests of the published models (meta device: no weights allocated) ---
PUBLISHED = {
    "base": Owlv2Config(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=960, patch_size=16),
        projection_dim=512),
    "large": Owlv2Config(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           image_size=1008, patch_size=14),
        projection_dim=768),
}
os.makedirs(os.path.join(ROOT, "manifests"), exist_ok=True)
for name, cfg in PUBLISHED.items():
    with torch.device("meta"):
        m = Owlv2ForObjectDetection(cfg)
    keys = {k: list(v.shape) for k, v in m.state_dict().items()}
    cfg_dict = cfg.to_dict()
    with open(os.path.join(ROOT, "manifests", f"owlv2-{name}.json"), "w") as f:
        json.dump({"config": cfg_dict, "keys": keys}, f, indent=0, sort_keys=True)
print("ok", len(vocab_list), "tokens,", len(merges), "merges")
