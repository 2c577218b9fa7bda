#!/usr/bin/env python3
"""Writes the page's app icons (web/www/icon-192.png, icon-512.png): a white skirt on the
page's blue, drawn with 4x4 supersampling. Pure Python, so it runs anywhere:
python3 tools/make_icons.py"""

import struct
import zlib
from pathlib import Path

BLUE = (47, 98, 200)
WHITE = (255, 255, 255)


def inside_skirt(x, y):
    """The skirt in unit coordinates: a waistband, then a flared body."""
    if 0.22 <= y <= 0.32:
        return 0.34 <= x <= 0.66
    if 0.32 < y <= 0.80:
        t = (y - 0.32) / 0.48
        half = 0.16 + t * 0.20
        return abs(x - 0.5) <= half
    return False


def pixel(px, py, size):
    samples = 4
    white = 0
    for sy in range(samples):
        for sx in range(samples):
            x = (px + (sx + 0.5) / samples) / size
            y = (py + (sy + 0.5) / samples) / size
            white += inside_skirt(x, y)
    share = white / samples**2
    return bytes(round(b + (w - b) * share) for b, w in zip(BLUE, WHITE))


def png(size):
    rows = b"".join(b"\0" + b"".join(pixel(x, y, size) for x in range(size)) for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


root = Path(__file__).resolve().parent.parent / "web" / "www"
for size in (192, 512):
    (root / f"icon-{size}.png").write_bytes(png(size))
    print(f"wrote {root / f'icon-{size}.png'}")
