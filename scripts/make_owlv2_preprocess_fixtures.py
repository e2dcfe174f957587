#!/usr/bin/env python3
"""OWLv2 image-preprocessing fixtures: transformers 4.44.2's numpy `Owlv2ImageProcessor` on small seeded images.

Run: PYTHONPATH=/work/owl-pkgs /work/venv-torch/bin/python scripts/make_owlv2_preprocess_fixtures.py
(transformers 4.44.2, scipy 1.17.1, numpy 2.4.6, Pillow). Writes under Tests/Fixtures/owlv2/:

- preprocessor_config.json: the file google/owlv2-base-patch16-ensemble ships (size 960).
- preprocess/<case>.png: the small inputs (seeded numpy noise plus gradients; one grayscale PNG in mode L).
- preprocess/preprocess.safetensors: per small case `<case>.rgb` (uint8 [H, W, 3], what
  `Image.open(png).convert('RGB')` gives, since MGDetect has no decoder) and `<case>.pixel_values` (float32
  [1, 3, h, w]); per formula case `<case>.rows` (float32 [3, R, S]: the rows `rows` of pixel_values[0]).
- preprocess/preprocess.json: per case its sizes, the processor keyword arguments and, for formula cases, the
  integer formula that generates its pixels (too big to store: the Swift test regenerates them).

The processor is called with input_data_format="channels_last", but its `pad` (get_image_size) and `resize`
(to_channel_dimension_format) still infer the layout from the shape: an image 1 or 3 pixels tall, or whose padded
side is 1 or 3, is read as channels-first and comes out scrambled. Those sizes are left out; MGDetect always
takes interleaved RGB.
"""

import json
import os

import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from transformers import Owlv2ImageProcessor

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "owlv2")
OUT = os.path.join(ROOT, "preprocess")

# The preprocessor_config.json of google/owlv2-base-patch16-ensemble (large: the same with size 1008).
BASE_CONFIG = {
    "do_normalize": True,
    "do_pad": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "Owlv2ImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "processor_class": "Owlv2Processor",
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 960, "width": 960},
}


def noise_image(rng, width, height):
    """Seeded noise over smooth gradients (so both the blur and the interpolation have structure to act on)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255.0 / max(width, 1), y * 255.0 / max(height, 1), (x + y) * 127.0 / max(width + height, 1)],
                    axis=-1)
    noise = rng.integers(-60, 61, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def formula_image(width, height):
    """The formula cases' pixels; OWLv2ImageProcessorTests.formulaImage computes the same integers."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    channels = [(x * 7 + y * 13 + ((x * y) % 11) * 5 + c * 85) % 256 for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(ROOT, "preprocessor_config.json"), "w") as f:
        json.dump(BASE_CONFIG, f, indent=2)
        f.write("\n")

    rng = np.random.default_rng(20240816)
    # name, width, height, target side (or (height, width)), grayscale, other processor keyword arguments
    small = [
        ("landscape_97x61_s64", 97, 61, 64, False, {}),
        ("portrait_53x120_s64", 53, 120, 64, False, {}),
        ("odd_37x29_s48", 37, 29, 48, False, {}),
        ("square_64x64_s64", 64, 64, 64, False, {}),
        ("downscale_150x110_s64", 150, 110, 64, False, {}),
        ("downscale_150x110_s16", 150, 110, 16, False, {}),
        ("upscale_20x33_s64", 20, 33, 64, False, {}),
        ("gray_45x70_s48", 45, 70, 48, True, {}),
        ("tiny_2x2_s48", 2, 2, 48, False, {}),
        ("tiny_5x2_s48", 5, 2, 48, False, {}),
        ("wide_130x2_s48", 130, 2, 48, False, {}),
        ("rect_97x61_h48w64", 97, 61, (48, 64), False, {}),
        ("nopad_97x61_s64", 97, 61, 64, False, {"do_pad": False}),
        ("nopad_53x120_h40w30", 53, 120, (40, 30), False, {"do_pad": False}),
        ("nonorm_97x61_s48", 97, 61, 48, False, {"do_normalize": False}),
    ]
    tensors = {}
    cases = []
    for name, width, height, side, gray, kwargs in small:
        out_h, out_w = side if isinstance(side, tuple) else (side, side)
        pixels = noise_image(rng, width, height)
        png = os.path.join(OUT, name + ".png")
        if gray:
            Image.fromarray(pixels[:, :, 0], mode="L").save(png)
        else:
            Image.fromarray(pixels, mode="RGB").save(png)
        image = Image.open(png).convert("RGB")
        rgb = np.asarray(image)
        assert rgb.shape == (height, width, 3)
        processor = Owlv2ImageProcessor(size={"height": out_h, "width": out_w}, **kwargs)
        out = processor(images=image, return_tensors="np", input_data_format="channels_last")["pixel_values"]
        assert out.dtype == np.float32 and out.shape == (1, 3, out_h, out_w), out.shape
        tensors[name + ".rgb"] = np.ascontiguousarray(rgb)
        tensors[name + ".pixel_values"] = np.ascontiguousarray(out)
        cases.append({"name": name, "width": width, "height": height, "size": {"height": out_h, "width": out_w},
                      "kwargs": kwargs, "png": name + ".png", "png_mode": "L" if gray else "RGB"})

    # The base model's exact preprocessor_config.json (size 960), on images generated by a formula; some rows kept.
    rows = [0, 1, 37, 480, 701, 958, 959]
    for name, width, height in [("base_upscale_300x200", 300, 200), ("base_downscale_2000x1500", 2000, 1500),
                                ("base_near_1000x700", 1000, 700)]:
        pixels = formula_image(width, height)
        processor = Owlv2ImageProcessor(**{k: v for k, v in BASE_CONFIG.items()
                                           if k not in ("image_processor_type", "processor_class")})
        out = processor(images=pixels, return_tensors="np", input_data_format="channels_last")["pixel_values"]
        assert out.shape == (1, 3, 960, 960)
        tensors[name + ".rows"] = np.ascontiguousarray(out[0][:, rows, :])
        cases.append({"name": name, "width": width, "height": height, "size": BASE_CONFIG["size"],
                      "formula": "(x*7 + y*13 + ((x*y) % 11)*5 + c*85) % 256", "rows": rows,
                      "config": "../preprocessor_config.json"})

    save_file(tensors, os.path.join(OUT, "preprocess.safetensors"))
    with open(os.path.join(OUT, "preprocess.json"), "w") as f:
        json.dump({"producer": "transformers 4.44.2 Owlv2ImageProcessor (numpy + scipy.ndimage 1.17.1)",
                   "processor_kwargs": "size=case size, plus the case's kwargs; other arguments at their defaults",
                   "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
