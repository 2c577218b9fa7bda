#!/usr/bin/env python3
"""The padded view's reference (`--view pad`), with PIL: what `ImageOps.contain` makes of a tall
and a wide generated photo, and where `ImageOps.pad` centres it in the square.

Run from the repository root (needs pillow):

    python3 tools/make_view_golden.py

Writes shared/tests/golden/view/: each source photo (PNG), its resized content (PNG, saved
losslessly) and view.json (square side, filter, content size and offsets). The test
normalises the content and pads it with zeros, the normalisation mean.
"""

import json
import os

from PIL import Image, ImageDraw, ImageOps

OUT = os.path.join("shared", "tests", "golden", "view")
SIDE = 64


def photo(width, height):
    """A gradient with a red band along the top edge and a blue one along the bottom (the
    hem of a tall photo), and a green band down the left edge."""
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = (40 + 150 * x // width, 60 + 120 * y // height, 90)
    draw = ImageDraw.Draw(image)
    band = max(height, width) // 12
    draw.rectangle([0, 0, width - 1, band - 1], fill=(230, 20, 20))
    draw.rectangle([0, height - band, width - 1, height - 1], fill=(20, 30, 230))
    draw.rectangle([0, 0, band - 1, height - 1], fill=(20, 200, 40))
    return image


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, (width, height), method, filter_name in [
        ("tall", (90, 240), Image.BICUBIC, "bicubic"),
        ("wide", (301, 117), Image.BILINEAR, "bilinear"),
    ]:
        source = photo(width, height)
        source.save(os.path.join(OUT, f"{name}.png"))
        content = ImageOps.contain(source, (SIDE, SIDE), method=method)
        # ImageOps.pad's placement: round((side - extent) * 0.5), halves to even.
        left = round((SIDE - content.width) * 0.5)
        top = round((SIDE - content.height) * 0.5)
        content.save(os.path.join(OUT, f"{name}_content.png"))
        cases.append(
            {
                "file": f"{name}.png",
                "content": f"{name}_content.png",
                "interpolation": filter_name,
                "size": [content.width, content.height],
                "left": left,
                "top": top,
            }
        )
    with open(os.path.join(OUT, "view.json"), "w") as f:
        json.dump({"side": SIDE, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
