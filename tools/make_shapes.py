#!/usr/bin/env python3
"""A generated image set for comparing recipes: 64x64 pictures of one of four shapes
(circle, square, triangle, cross), each of a random size, place, rotation and colour, dark on
a light noisy gradient or light on a dark one, as an image folder that `trainer prepare --data` reads
(`<out>/<shape>/<index>.png`); seeded, so every run writes the same images.

    python3 tools/make_shapes.py data/shapes 300
    trainer prepare --data data/shapes --out runs/shapes --val-fraction 0.2
"""

import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle", "cross"]


def polygon(shape, cx, cy, r, turn):
    corners = {"square": 4, "triangle": 3}[shape]
    return [(cx + r * math.cos(turn + 2 * math.pi * k / corners),
             cy + r * math.sin(turn + 2 * math.pi * k / corners)) for k in range(corners)]


def picture(shape, rng):
    size = 64
    y, x = np.mgrid[0:size, 0:size]
    # A dark shape on a light background or the other way round, each of a random hue.
    light = rng.random() < 0.5
    base = rng.uniform(150, 230, 3) if light else rng.uniform(20, 100, 3)
    slope = rng.uniform(-0.6, 0.6, (2, 3))
    background = base + (x[..., None] - 32) * slope[0] + (y[..., None] - 32) * slope[1]
    background += rng.normal(0, 10, (size, size, 3))
    image = Image.fromarray(background.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    r = rng.uniform(14, 24)
    cx, cy = rng.uniform(r + 2, size - r - 2, 2)
    colour = tuple(int(c) for c in (rng.uniform(0, 90, 3) if light else rng.uniform(165, 255, 3)))
    turn = rng.uniform(0, 2 * math.pi)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "cross":
        for angle in (turn, turn + math.pi / 2):
            dx, dy = r * math.cos(angle), r * math.sin(angle)
            draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=colour, width=max(3, int(r / 3)))
    else:
        draw.polygon(polygon(shape, cx, cy, r, turn), fill=colour)
    noisy = np.asarray(image).astype(np.float64) + rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(noisy.clip(0, 255).astype(np.uint8), "RGB")


def main(out, per_class):
    rng = np.random.default_rng(5)
    for shape in SHAPES:
        os.makedirs(os.path.join(out, shape), exist_ok=True)
        for index in range(per_class):
            picture(shape, rng).save(os.path.join(out, shape, f"{index:04d}.png"))
    print(f"{per_class * len(SHAPES)} images in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/shapes",
         int(sys.argv[2]) if len(sys.argv) > 2 else 300)
