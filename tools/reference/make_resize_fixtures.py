"""Reference crops for the C++ PIL-bicubic resize (src/data/image_resize.cpp).

Run offline with Debian's Pillow 9.4 (never at test time):
    /usr/bin/python3 tools/reference/make_resize_fixtures.py tests/fixtures/data/resize

Each case is a synthetic RGB image defined by a formula (pattern() below, re-implemented
bit-for-bit in tests/data/test_image_resize.cpp), so only the outputs are stored:
  <name>.png        CLIP preprocessing up to uint8, as torchvision 0.14 does it on a PIL image:
                    Resize(size, BICUBIC) -- shorter side to `size`, longer int(size*long/short),
                    unchanged if the short side already is `size` -- then CenterCrop(size) with
                    top = int(round((h - size) / 2.0)), left = int(round((w - size) / 2.0)).
                    (torchvision itself is not installed here; these are its exact calls:
                    img.resize((w, h), Image.BICUBIC) and img.crop((left, top, left+size, top+size)).)
  <name>.full.png   for small cases, the whole img.resize((out_w, out_h), Image.BICUBIC) output.
  cases.json        the list of cases with their sizes.
"""
import json
import os
import sys

import numpy as np
from PIL import Image

CASES = [
    # name, width, height, size (crop side; 0 = full resize), full resize target (or None)
    ("landscape_320x240", 320, 240, 224, None),         # 298x224, left 37
    ("qcif_176x144_upscale", 176, 144, 224, None),      # 273x224, left round(24.5) = 24
    ("portrait_240x426_size_128", 240, 426, 128, None),
    ("hd_1280x720_size_64", 1280, 720, 64, None),       # downscale 11x, left round(24.5) = 24
    ("odd_301x199_size_80", 301, 199, 80, None),
    ("short_side_equal_300x80", 300, 80, 80, None),     # no resize, crop only
    ("tiny_37x23_size_48", 37, 23, 48, None),
    ("full_37x23_to_10x15", 37, 23, 0, (10, 15)),
    ("full_64x48_to_200x31", 64, 48, 0, (200, 31)),
    ("full_500x20_to_7x20", 500, 20, 0, (7, 20)),       # horizontal pass only
    ("full_20x300_to_20x9", 20, 300, 0, (20, 9)),       # vertical pass only
]


def pattern(width, height):
    """uint8 [h, w, 3]: smooth gradients, sharp edges and hashed noise (32-bit arithmetic)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.uint64)
    out = np.zeros((height, width, 3), np.uint8)
    for c in range(3):
        h = (x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ np.uint64(83492791 * (c + 1))
        h = (h * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
        noise = (h >> np.uint64(24)).astype(np.int64)
        grad = (x * np.uint64(255) // np.uint64(max(width - 1, 1))).astype(np.int64)
        if c == 1:
            grad = (y * np.uint64(255) // np.uint64(max(height - 1, 1))).astype(np.int64)
        edge = np.where(((x // np.uint64(7)) + (y // np.uint64(5))) % np.uint64(2) == 0, 230, 20).astype(np.int64)
        region = (x.astype(np.int64) * 3 + y.astype(np.int64) * (c + 2)) % 3
        value = np.where(region == 0, grad, np.where(region == 1, edge, noise))
        out[..., c] = value.astype(np.uint8)
    return out


def clip_resize_crop(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    if short != size:
        new_long = int(size * long / short)
        new_w, new_h = (size, new_long) if w <= h else (new_long, size)
        img = img.resize((new_w, new_h), Image.BICUBIC)
    w, h = img.size
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    listing = []
    for name, w, h, size, full in CASES:
        img = Image.fromarray(pattern(w, h), "RGB")
        entry = {"name": name, "width": w, "height": h}
        if full is None:
            clip_resize_crop(img, size).save(os.path.join(out_dir, name + ".png"))
            entry["size"] = size
        else:
            img.resize(full, Image.BICUBIC).save(os.path.join(out_dir, name + ".full.png"))
            entry["out_width"], entry["out_height"] = full
        listing.append(entry)
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump({"made_with": "/usr/bin/python3 tools/reference/make_resize_fixtures.py tests/fixtures/data/resize "
                                "(Pillow " + Image.__version__ + ")", "cases": listing}, f, indent=1)
    print("wrote", len(listing), "cases to", out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/data/resize")
