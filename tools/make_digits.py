#!/usr/bin/env python3
"""A real image set from package data, for comparing recipes: scikit-learn's bundled digits
(1797 8x8 grey images of handwritten digits, 10 classes) as an image folder that
`trainer prepare --data` reads (`<out>/<digit>/<index>.png`), each upscaled to 64x64 with
bicubic filtering into RGB.

    python3 tools/make_digits.py data/digits
    trainer prepare --data data/digits --out runs/digits --val-fraction 0.2
"""

import os
import sys

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main(out):
    digits = load_digits()
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(out, str(label))
        os.makedirs(folder, exist_ok=True)
        grey = Image.fromarray((image * (255.0 / 16.0)).round().astype(np.uint8), "L")
        grey.resize((64, 64), Image.BICUBIC).convert("RGB").save(os.path.join(folder, f"{index:04d}.png"))
    print(f"{len(digits.images)} images in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/digits")
