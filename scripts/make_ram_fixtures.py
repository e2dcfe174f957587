"""RAM++ reference fixtures from recognize-anything's own code (the tagger MG-LLaVA's box generation runs first).

Run:  python scripts/make_ram_fixtures.py --ram-src DIR [--ram-commit 7cb804a]
      DIR holds recognize-anything's `ram/` package, e.g. from a checkout of the repository:
        git -C recognize-anything archive HEAD ram | tar -x -C /tmp/ramsrc   # then --ram-src /tmp/ramsrc
      Python needs torch, torchvision, transformers==4.44.2 (OWLv2 half), timm, fairscale (imported by ram/models/vit.py),
      scipy, numpy, safetensors, Pillow. Nothing is downloaded; upstream's code is imported, never copied here.

A tiny RAM_plus is built by upstream's own classes (`ram.models.ram_plus`) in a temporary copy of the `ram` package
whose config files are replaced by tiny ones (Swin 8 wide, depths 2-2-2-2, window 7 at 224 px; tagging head BERT
32 wide, 2 layers), with 10 tags and a stand-in for `init_tokenizer` (bert-base-uncased is on the hub; only
len(tokenizer) = 30522 + [DEC] + [ENC] = 30524 is used, by resize_token_embeddings, before the embeddings are deleted).
Every parameter is then given seeded random values, the per-class thresholds are chosen from the logits (see
choose_thresholds), and the model is saved as upstream's released checkpoint is laid out ({'model': state_dict}) and
loaded back through `ram_plus(pretrained=...)`, which produces the fixtures.

Writes Tests/Fixtures/ram/:
  ram-plus-tiny/ram_plus_tiny.pth          torch.save({'model': state_dict}) of the tiny model, float32, zip format
  ram-plus-tiny/ram_tag_list.txt, ram_tag_list_chinese.txt, ram_tag_list_threshold.txt   its tag files
  ram-plus-tiny/config_swin.json           the tiny vision config (upstream's key names, as config_swinL_224.json)
  ram-plus-tiny/q2l_config.json            the tiny tagging-head BERT config (upstream's format)
  images/photo.jpg                         a 500 x 375 JPEG (quality 90); the other six images are the PNGs in
                                           ../owlv2/images/, referred to by path
  reference.safetensors                    per image NAME: resized (Pillow's 224 x 224 RGB, uint8), layer1..layer3,
                                           visual, image_embeds, label_embed, tagging, logits (float32); for
                                           landscape and photo also pixel_values, patch_embed, layer0
  reference.json                           versions; per image the tags (inference_ram's res[0], res[1]), the parsed
                                           queries and MG-LLaVA's OWLv2 box pipeline on them (tiny OWLv2 of
                                           ../owlv2/owlv2-tiny) at threshold 0.2 and 0.6; `pipeline`: the box records
  manifests/ram_plus_swin_l_384.json       "shapes": state_dict key -> shape of ram_plus(vit='swin_l', image_size=384)
                                           built from the unmodified configs and tag files (no tag strings written),
                                           plus num_classes, descriptions_per_class, the configs, the buffer keys
  manifests/ram_swin_l_384.json            the same for plain RAM (ram.models.ram), for recognising its checkpoints
"""
import argparse
import importlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout
from types import SimpleNamespace

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "ram"))
OWL_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "owlv2"))
SEED = 20261208
IMAGE_SIZE = 224
REAL_IMAGE_SIZE = 384  # the released swin_l model (the manifests)
# The tiny vision config (config_swinL_224.json's keys; 224 keeps the fixture small). Stage grids 56/28/14/7 in
# windows of 7: stage 2 shifts by 3 (an odd shift), the last grid equals the window, so upstream's
# SwinTransformerBlock turns that stage's shift off (and uses no attention mask there).
TINY_SWIN = {"ckpt": "none (tiny random fixture)", "vision_width": 64, "image_res": IMAGE_SIZE, "window_size": 7,
             "embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4]}
TINY_Q2L = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64, "num_hidden_layers": 2}
# Multi-word, upper-case, hyphenated and non-ASCII tags; all tokenise within the tiny OWLv2's 16 positions.
TAGS = ["cat", "dog", "traffic light", "Teddy Bear", "remote", "person", "t-shirt", "street", "sofa", "café"]
TAGS_CHINESE = ["猫", "狗", "红绿灯", "泰迪熊", "遥控器", "人", "T恤", "街道", "沙发", "咖啡馆"]
FULL_IMAGES = ["landscape", "photo"]  # images whose pixel values and first-stage outputs are stored
OWL_IMAGES = ["landscape", "portrait", "odd", "grayscale", "large", "square"]
BERT_BASE_UNCASED_LEN = 30522 + 2  # + '[DEC]' (bos) + '[ENC]' (additional special token), as init_tokenizer adds


class StandInTokenizer:
    """What RAM_plus / RAM use of init_tokenizer('bert-base-uncased') when building: len() (resize_token_embeddings)
    and, in plain RAM only, len(tokenizer(prompt).input_ids) for `prompt_length` (not part of the state dict):
    [CLS] + one WordPiece per word + [SEP], which is what bert-base-uncased gives for 'a picture of '."""

    def __len__(self):
        return BERT_BASE_UNCASED_LEN

    def __call__(self, text):
        return SimpleNamespace(input_ids=[101] + [100] * len(text.split()) + [102])


def import_ram(src_dir):
    """Imports the `ram` package found in src_dir and replaces init_tokenizer where the models look it up."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, src_dir)
    import ram  # noqa: F401
    ram_plus_mod = importlib.import_module("ram.models.ram_plus")
    ram_mod = importlib.import_module("ram.models.ram")
    for mod in (ram_plus_mod, ram_mod):
        mod.init_tokenizer = lambda text_encoder_type="bert-base-uncased": StandInTokenizer()
    assert os.path.realpath(str(ram_plus_mod.CONFIG_PATH)) == os.path.realpath(os.path.join(src_dir, "ram"))
    return ram_plus_mod, ram_mod


def quiet(fn, *args, **kwargs):
    """Upstream prints progress (and RAM prints one line per tied weight): keep it off the console."""
    with redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Manifests: run in a child process that imports the pristine package, so no tiny config can leak in.
# ---------------------------------------------------------------------------------------------------------------
def write_manifests(args):
    import torch
    import transformers
    torch.set_num_threads(1)
    ram_plus_mod, ram_mod = import_ram(args.ram_src)
    cfg_root = os.path.join(args.ram_src, "ram")
    with open(os.path.join(cfg_root, "configs", "swin", "config_swinL_384.json")) as f:
        swin = json.load(f)
    with open(os.path.join(cfg_root, "configs", "q2l_config.json")) as f:
        q2l = json.load(f)
    with open(os.path.join(cfg_root, "configs", "med_config.json")) as f:
        med = json.load(f)
    with open(os.path.join(cfg_root, "data", "ram_tag_list.txt"), encoding="utf-8") as f:
        num_classes = len(f.read().splitlines())
    out_dir = os.path.join(ROOT, "manifests")
    os.makedirs(out_dir, exist_ok=True)
    builders = [("ram_plus_swin_l_384", ram_plus_mod.ram_plus), ("ram_swin_l_384", ram_mod.ram)]
    for name, build in builders:
        # Default tag files and thresholds: upstream's ram/data (4585 tags); the vision config for swin_l at 384.
        model = quiet(build, image_size=REAL_IMAGE_SIZE, vit="swin_l")
        params = {k for k, _ in model.named_parameters(remove_duplicate=False)}
        state = model.state_dict()
        keys = {k: list(v.shape) for k, v in state.items()}
        label_rows = keys["label_embed"][0]
        manifest = {
            "ram_commit": args.ram_commit, "torch": torch.__version__, "transformers": transformers.__version__,
            "builder": f"ram.models.{build.__name__}(image_size={REAL_IMAGE_SIZE}, vit='swin_l') with upstream's configs "
                       "and tag files; init_tokenizer replaced by a stand-in of len 30524",
            "num_classes": num_classes,
            "descriptions_per_class": label_rows // num_classes,
            "vision_config": swin,
            "q2l_config": q2l, "q2l_encoder_width": 512,
            "buffers": sorted(k for k in state if k not in params),
            "parameter_count": sum(p.numel() for p in model.parameters()),  # tied tensors once
            "shapes": keys,  # every state_dict key (parameters and buffers) -> shape
        }
        if build is ram_mod.ram:
            manifest["med_config"] = med
            # tie_encoder_decoder_weights shares tagging_head's tensors with tag_encoder's: both names are saved.
            manifest["tied"] = sorted(k for k in state if k.startswith("tagging_head.")
                                      and state[k].data_ptr() == state.get("tag_encoder." + k[len("tagging_head."):],
                                                                           torch.empty(0)).data_ptr())
        assert label_rows % num_classes == 0
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(manifest, f, indent=0, sort_keys=True)
        print("manifest", name, len(keys), "keys,", manifest["parameter_count"], "parameters")
        del model, state


# ---------------------------------------------------------------------------------------------------------------
# The tiny model and the reference outputs.
# ---------------------------------------------------------------------------------------------------------------
def randomize(model, torch):
    """Seeded values for every parameter, large enough that each part (incl. the relative position bias and the
    per-description reweighting) changes the result."""
    # Extra gains on top of unit gain: with them the tag queries (label embeddings) and their attention over the
    # image tokens, not the image's overall statistics, decide most of each tag's logit, so the tags differ per image.
    gains = {"wordvec_proj.weight": 4.0, "crossattention.self.query.weight": 4.0,
             "crossattention.self.key.weight": 4.0, "crossattention.self.value.weight": 0.5}
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            is_norm = ".norm" in name or "LayerNorm" in name or name.startswith("visual_encoder.norm.")
            if name == "reweight_scale":
                p.copy_(math.log(1 / 0.07) + 0.05 * noise)
            elif name == "label_embed":  # [N * 51, 512]; reweighting logits ~ N(0, (14.3 * 0.225)^2)
                p.copy_(0.225 * noise)
            elif name.endswith("relative_position_bias_table"):
                p.copy_(0.5 * noise)
            elif is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias") or is_norm:
                p.copy_(0.05 * noise)
            else:  # Linear / Conv2d weights: about unit gain per layer
                fan_in = p[0].numel()
                gain = next((g for k, g in gains.items() if name.endswith(k)), 1.0)
                p.copy_(gain * noise / math.sqrt(fan_in))


def choose_thresholds(probs):
    """probs: [images, classes] sigmoid(logits) of the placeholder-threshold run.

    Each class gets either a threshold half-way between two of its neighbouring observed probabilities (one of its
    three widest gaps: the tag fires on some images and not on others) or 0.05 below its lowest probability (the
    tag fires on every image). Of all these combinations the one is taken that gives every image a different
    non-empty tag set, with at least one tag that fires on some images only, and the largest smallest distance
    between a threshold and any probability. Thresholds are rounded to 4 decimals before they are compared."""
    import itertools
    import numpy as np
    n_img, n_cls = probs.shape
    options = []
    for c in range(n_cls):
        v = np.sort(probs[:, c].astype(np.float64))
        gaps = [(v[i + 1] - v[i], round((v[i] + v[i + 1]) / 2, 4)) for i in range(n_img - 1)]
        options.append(sorted(gaps, reverse=True)[:3] + [(0.1, round(v[0] - 0.05, 4))])
    best = None
    for combo in itertools.product(*[range(len(o)) for o in options]):
        t = np.array([options[c][k][1] for c, k in enumerate(combo)])
        fires = probs > t
        if not fires.any(axis=1).all():
            continue
        if len({tuple(r) for r in fires}) < n_img or fires.all(axis=0).all():
            continue
        margin = np.abs(probs - t).min()
        if best is None or margin > best[0]:
            best = (margin, t)
    assert best is not None, "no threshold choice gives distinct non-empty tag sets; change the seed"
    return [float(x) for x in best[1]], float(best[0])


def make_photo(path):
    """A 500 x 375 JPEG with gradients and drawn shapes (downscaled by the 224 x 224 resize: PIL antialiases)."""
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(SEED)
    w, h = 500, 375
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    arr = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 128 + 100 * np.sin(x / 23.0) * np.cos(y / 17.0)], -1)
    arr = np.clip(arr + rng.normal(0, 8, size=arr.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse((40, 60, 200, 220), fill=(230, 40, 40), outline=(10, 10, 10), width=4)
    draw.rectangle((260, 30, 460, 150), fill=(30, 160, 60))
    draw.polygon([(300, 340), (420, 200), (480, 350)], fill=(250, 220, 40))
    for i in range(0, w, 25):
        draw.line((i, h - 40, i + 12, h - 10), fill=(0, 0, 120), width=3)
    img.save(path, format="JPEG", quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ram-src", required=True, help="folder holding recognize-anything's ram/ package")
    parser.add_argument("--ram-commit", default="7cb804a", help="the recognize-anything commit ram-src is from")
    parser.add_argument("--manifests-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    args.ram_src = os.path.abspath(args.ram_src)
    if args.manifests_only:
        write_manifests(args)
        return

    import numpy as np
    import PIL
    import torch
    import torchvision
    import transformers
    from PIL import Image
    from safetensors.numpy import save_file
    assert transformers.__version__ == "4.44.2", transformers.__version__
    from transformers import Owlv2ForObjectDetection, Owlv2Processor
    torch.set_num_threads(1)
    torch.manual_seed(SEED)

    model_dir = os.path.join(ROOT, "ram-plus-tiny")
    image_dir = os.path.join(ROOT, "images")
    os.makedirs(model_dir, exist_ok=True)
    os.makedirs(image_dir, exist_ok=True)

    # --- a temporary copy of the ram package with the tiny configs and threshold file ---
    tmp = tempfile.mkdtemp(prefix="ram-tiny-")
    shutil.copytree(os.path.join(args.ram_src, "ram"), os.path.join(tmp, "ram"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(os.path.join(args.ram_src, "ram", "configs", "q2l_config.json")) as f:
        q2l = json.load(f)
    q2l.update(TINY_Q2L)  # hidden_act gelu, layer_norm_eps 1e-12, add_cross_attention true, ... as upstream
    for path, cfg in [(os.path.join(tmp, "ram", "configs", "swin", "config_swinL_224.json"), TINY_SWIN),
                      (os.path.join(model_dir, "config_swin.json"), TINY_SWIN),
                      (os.path.join(tmp, "ram", "configs", "q2l_config.json"), q2l),
                      (os.path.join(model_dir, "q2l_config.json"), q2l)]:
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
    tag_file = os.path.join(model_dir, "ram_tag_list.txt")
    tag_file_cn = os.path.join(model_dir, "ram_tag_list_chinese.txt")
    threshold_files = [os.path.join(tmp, "ram", "data", "ram_tag_list_threshold.txt"),
                       os.path.join(model_dir, "ram_tag_list_threshold.txt")]
    with open(tag_file, "w", encoding="utf-8") as f:
        f.write("\n".join(TAGS))  # no final newline, like upstream's ram_tag_list.txt
    with open(tag_file_cn, "w", encoding="utf-8") as f:
        f.write("\n".join(TAGS_CHINESE) + "\n")

    def write_thresholds(values):
        for path in threshold_files:
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(f"{v}\n" for v in values))

    write_thresholds([0.5] * len(TAGS))  # placeholder for the first run
    ram_plus_mod, _ = import_ram(tmp)
    from ram import get_transform, inference_ram
    build = dict(image_size=IMAGE_SIZE, vit="swin_l", tag_list=tag_file, tag_list_chinese=tag_file_cn)

    model = quiet(ram_plus_mod.ram_plus, **build).eval()
    randomize(model, torch)
    ckpt = os.path.join(model_dir, "ram_plus_tiny.pth")
    # float32 weights; relative_position_index stays int64 and attn_mask float32, as the modules register them.
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert {v.dtype for v in state.values()} == {torch.float32, torch.int64}
    torch.save({"model": state}, ckpt)

    # --- images ---
    photo = os.path.join(image_dir, "photo.jpg")
    make_photo(photo)
    images = [(n, os.path.join(OWL_ROOT, "images", n + ".png")) for n in OWL_IMAGES] + [("photo", photo)]
    transform = get_transform(image_size=IMAGE_SIZE)
    pixel_values = {n: transform(Image.open(p)).unsqueeze(0) for n, p in images}

    # --- thresholds from the in-memory model's logits ---
    def logits_of(m, x):
        captured = {}
        handle = m.fc.register_forward_hook(lambda mod, inp, out: captured.__setitem__("fc", out))
        with torch.no_grad():
            m.generate_tag(x)
        handle.remove()
        return captured["fc"].squeeze(-1)
    first_logits = {n: logits_of(model, x) for n, x in pixel_values.items()}
    probs = torch.sigmoid(torch.cat([first_logits[n] for n, _ in images])).numpy()
    signs = np.sign(torch.cat(list(first_logits.values())).numpy())
    assert (signs > 0).any() and (signs < 0).any(), "tag logits all of one sign"
    thresholds, margin = choose_thresholds(probs)
    write_thresholds(thresholds)
    print("thresholds", thresholds, "smallest |p - threshold|", margin)

    # --- round trip: a fresh model from the saved checkpoint (reads the threshold file just written) ---
    fresh = quiet(ram_plus_mod.ram_plus, pretrained=ckpt, **build).eval()
    fresh_state = fresh.state_dict()
    assert fresh_state.keys() == state.keys()
    for k, v in state.items():
        assert fresh_state[k].dtype == v.dtype and torch.equal(fresh_state[k], v), k
    assert torch.allclose(fresh.class_threshold, torch.tensor(thresholds))

    hooks, captured = [], {}
    def keep(key, post=lambda o: o):
        return lambda mod, inp, out: captured.__setitem__(key, post(out).detach().clone())
    enc = fresh.visual_encoder
    hooks.append(enc.patch_embed.register_forward_hook(keep("patch_embed")))
    for i, layer in enumerate(enc.layers):
        hooks.append(layer.register_forward_hook(keep(f"layer{i}")))
    hooks.append(enc.register_forward_hook(keep("visual")))
    hooks.append(fresh.image_proj.register_forward_hook(keep("image_embeds")))
    hooks.append(fresh.wordvec_proj.register_forward_hook(keep("label_embed", torch.nn.functional.relu)))
    hooks.append(fresh.tagging_head.register_forward_hook(keep("tagging", lambda o: o[0])))
    hooks.append(fresh.fc.register_forward_hook(keep("logits", lambda o: o.squeeze(-1))))

    owl_dir = os.path.join(OWL_ROOT, "owlv2-tiny")
    processor = Owlv2Processor.from_pretrained(owl_dir)
    owl_model = Owlv2ForObjectDetection.from_pretrained(owl_dir).eval()

    tensors = {}
    reference = {"ram_commit": args.ram_commit, "transformers": transformers.__version__,
                 "torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__,
                 "seed": SEED, "thresholds": thresholds, "images": [], "pipeline": []}
    subsets = set()
    for name, path in images:
        # MG-LLaVA's image_offline_to_bbox.py, step by step.
        orig_image = Image.open(path)
        image = transform(orig_image).unsqueeze(0)
        assert torch.equal(image, pixel_values[name])
        captured.clear()
        res = inference_ram(image, fresh)
        assert torch.equal(captured["logits"], first_logits[name]), f"{name}: reloaded model differs"
        tags = res[0].replace(' |', ',').lower().strip().split(',')
        tags = [t.strip() for t in tags]
        assert tags != [""], f"{name}: no tags"
        subsets.add(res[0])
        prompt_tags = ['a photo of ' + t for t in tags]
        orig_image = orig_image.convert('RGB')
        inputs = processor(text=[prompt_tags], images=orig_image, return_tensors='pt')
        with torch.no_grad():
            outputs = owl_model(**inputs)
        max_wh = max(orig_image.size)
        entry = {"name": name, "file": os.path.relpath(path, ROOT), "width": orig_image.size[0],
                 "height": orig_image.size[1], "mode": Image.open(path).mode,
                 "tags": res[0], "tags_chinese": res[1], "queries": tags}
        for threshold, suffix in [(0.2, ""), (0.6, "_0_6")]:
            results = processor.post_process_object_detection(outputs=outputs, threshold=threshold,
                                                               target_sizes=torch.Tensor([[max_wh, max_wh]]))
            entry["boxes" + suffix] = results[0]['boxes'].int().tolist()
            entry["scores" + suffix] = results[0]['scores'].tolist()
            entry["labels" + suffix] = [tags[l] for l in results[0]['labels'].tolist()]
        reference["images"].append(entry)
        reference["pipeline"].append({"id": name, "boxes": entry["boxes"], "scores": entry["scores"],
                                      "labels": entry["labels"]})
        # The resized 8-bit image (Pillow's output, from which pixel_values follows exactly) for every image; the
        # float32 pixel values and the two largest intermediates for two images only (fixture size).
        resized = torchvision.transforms.Resize((IMAGE_SIZE, IMAGE_SIZE))(Image.open(path).convert("RGB"))
        tensors[f"{name}.resized"] = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy())
        keys = ["layer1", "layer2", "layer3", "visual", "image_embeds", "label_embed", "tagging", "logits"]
        if name in FULL_IMAGES:
            tensors[f"{name}.pixel_values"] = image
            keys += ["patch_embed", "layer0"]
        for key in keys:
            tensors[f"{name}.{key}"] = captured[key]
        print(f"{name}: {res[0]!r} | boxes {len(entry['boxes'])} at 0.2, {len(entry['boxes_0_6'])} at 0.6")
    for h in hooks:
        h.remove()
    assert len(subsets) == len(images), "two images share a tag set"
    fired = np.array([[t in e["queries"] for t in [x.lower() for x in TAGS]] for e in reference["images"]])
    assert ((fired.sum(0) > 0) & (fired.sum(0) < len(images))).any()

    save_file({k: (v if v.dtype == torch.uint8 else v.float()).contiguous().numpy() for k, v in tensors.items()},
              os.path.join(ROOT, "reference.safetensors"))
    with open(os.path.join(ROOT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, indent=1, ensure_ascii=False)
    shutil.rmtree(tmp)

    # --- manifests of the real architecture, in a child process importing the unmodified package ---
    subprocess.run([sys.executable, os.path.abspath(__file__), "--ram-src", args.ram_src,
                    "--ram-commit", args.ram_commit, "--manifests-only"], check=True)
    print("ok")


if __name__ == "__main__":
    main()
