"""How the "all tags" vocabulary differs from upstream's RAM++ tags on the fixture photos (docs/boxes.md).

Run:  python scripts/compare_ram_tag_modes.py [--mgllava .build/release/mgllava]
Runs `mgllava boxes` on the seven RAM fixture photos (Tests/Fixtures/ram) with the tiny OWLv2, once with the tiny
RAM++ choosing each image's tags (--tagger, upstream's pipeline) and once querying every tag of its list
(--queries-file), at thresholds 0.2 and 0.6, then counts the boxes, the boxes both keep, the relabelled ones, and the
boxes left after MG-LLaVA's per-label NMS at IoU 0.2 (torchvision's batched_nms, as upstream's bbox_nms).
"""
import argparse
import json
import os
import subprocess
import tempfile

import torch
from torchvision.ops import batched_nms

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "Tests", "Fixtures")
IMAGES = [os.path.join(FIX, "owlv2", "images", n + ".png")
          for n in ["landscape", "portrait", "odd", "grayscale", "large", "square"]]
IMAGES.append(os.path.join(FIX, "ram", "images", "photo.jpg"))


def boxes(mgllava, extra, threshold, out_dir):
    records = {}
    for path in IMAGES:
        out = os.path.join(out_dir, f"{len(os.listdir(out_dir))}.json")
        subprocess.run([mgllava, "boxes", "--detector", os.path.join(FIX, "owlv2", "owlv2-tiny"), "--image", path,
                        "--threshold", str(threshold), "--out", out] + extra, check=True, capture_output=True)
        for record in json.load(open(out)):
            records[record["id"]] = record
    return records


def after_nms(record):
    if not record["boxes"]:
        return 0
    labels = {name: i for i, name in enumerate(sorted(set(record["labels"])))}
    keep = batched_nms(torch.tensor(record["boxes"], dtype=torch.float32), torch.tensor(record["scores"]),
                       torch.tensor([labels[x] for x in record["labels"]]), 0.2)
    return len(keep)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mgllava", default=os.path.join(ROOT, ".build", "release", "mgllava"))
    a = p.parse_args()
    tiny = os.path.join(FIX, "ram", "ram-plus-tiny")
    with tempfile.TemporaryDirectory() as tmp:
        for threshold in [0.2, 0.6]:
            ram = boxes(a.mgllava, ["--tagger", tiny], threshold, tmp)
            every = boxes(a.mgllava, ["--queries-file", os.path.join(tiny, "ram_tag_list.txt")], threshold, tmp)
            totals = dict(ram=0, all=0, shared=0, relabelled=0, ram_nms=0, all_nms=0)
            for name, r in ram.items():
                e = every[name]
                keyed = {tuple(b): label for b, label in zip(e["boxes"], e["labels"])}
                shared = [(tuple(b), label) for b, label in zip(r["boxes"], r["labels"]) if tuple(b) in keyed]
                totals["ram"] += len(r["boxes"]); totals["all"] += len(e["boxes"]); totals["shared"] += len(shared)
                totals["relabelled"] += sum(keyed[b] != label for b, label in shared)
                totals["ram_nms"] += after_nms(r); totals["all_nms"] += after_nms(e)
            print(f"threshold {threshold}: RAM++ tags keep {totals['ram']} boxes, all 10 tags {totals['all']}; "
                  f"{totals['shared']} of the RAM++ boxes are also kept with all tags, {totals['relabelled']} of "
                  f"those relabelled; after per-label NMS (IoU 0.2): {totals['ram_nms']} vs {totals['all_nms']}")


if __name__ == "__main__":
    main()
