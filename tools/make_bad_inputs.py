#!/usr/bin/env python3
"""Write the committed bad-input corpus, trainer/tests/bad_inputs/: the awkward and broken
files users feed the tool (photos, label CSVs, weight files, bundles). Each one has a test in
trainer/tests/bad_inputs.rs asserting exactly what happens to it; README.md there lists them.

Run from the repository root (needs torch, torchvision, pillow, numpy, safetensors):

    python3 tools/make_bad_inputs.py

Deterministic: running it again rewrites the same bytes (except the PNG/JPEG encoders'
versions). The tests never need Python.
"""

import hashlib
import io
import json
import os
import struct
import sys
import zipfile
import zlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(__file__))
from make_golden import NarrowResNet  # noqa: E402

OUT = os.path.join("trainer", "tests", "bad_inputs")
TASK = "skirt_length_labels"
# What the malicious pickles would run if they were executed; the test checks it never exists.
PWNED = "/tmp/fashionai-bad-input-was-executed"


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def jpeg(image, **options):
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, **options)
    return out.getvalue()


def png(image):
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def quadrants(width=96, height=64):
    """Red top-left, green top-right, blue bottom-left, white bottom-right: any rotation or
    mirror shows in which colour lands where."""
    a = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    a[:h, :w] = (220, 30, 30)
    a[:h, w:] = (30, 200, 30)
    a[h:, :w] = (30, 30, 220)
    a[h:, w:] = (240, 240, 240)
    return Image.fromarray(a)


def with_orientation(data, orientation):
    """A JPEG with an EXIF APP1 block holding only the Orientation tag."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01"
    tiff += bytes([0x01, 0x12, 0, 3, 0, 0, 0, 1]) + struct.pack(">H", orientation) + bytes(6)
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return data[:2] + app1 + data[2:]


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def images():
    photo = jpeg(quadrants())
    scan = photo.index(b"\xff\xda")
    write("truncated.jpg", photo[: scan + (len(photo) - scan) // 2])
    damaged = bytearray(photo)
    table = photo.index(b"\xff\xc4")
    damaged[table + 5 : table + 21] = b"\xff" * 16  # more codes than a Huffman table holds
    write("bad-huffman.jpg", bytes(damaged))
    # 100000 x 100000 pixels declared (30 GB decoded) in a 70-byte file.
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
    bomb += png_chunk(b"IDAT", zlib.compress(b"\x00" * 301)) + png_chunk(b"IEND", b"")
    write("bomb.png", bomb)
    write("empty.jpg", b"")
    write("notes.jpg", b"Shopping list: skirt, scarf.\n")
    write("cmyk.jpg", jpeg(quadrants().convert("CMYK")))
    grey16 = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    write("grey-16bit.png", png(Image.fromarray(grey16)))
    write("grey.jpg", jpeg(quadrants().convert("L")))
    frames = [quadrants(), Image.new("RGB", (96, 64), (0, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    write("animated.gif", out.getvalue())
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    write("animated.webp", out.getvalue())
    write("exif-6.jpg", with_orientation(photo, 6))
    write("exif-8.jpg", with_orientation(photo, 8))
    write("good.jpg", photo)


def csvs():
    def rows(*lines, crlf=False, bom=False):
        text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
        return (b"\xef\xbb\xbf" if bom else b"") + text.encode()

    def ok(name, cls):
        return f"Images/{TASK}/{name}.jpg,{TASK}," + "".join("y" if k == cls else "n" for k in range(6))

    write("wrong-label-length.csv", rows(ok("a", 0), f"Images/{TASK}/b.jpg,{TASK},nyn", ok("c", 2)))
    write("two-y.csv", rows(ok("a", 0), f"Images/{TASK}/b.jpg,{TASK},yynnnn", ok("c", 2)))
    write("no-y.csv", rows(ok("a", 0), f"Images/{TASK}/b.jpg,{TASK},nnnmnn", ok("c", 2)))
    write("unknown-task.csv", rows(ok("a", 0), f"Images/{TASK}/b.jpg,skirt_colour_labels,nynnnn", ok("c", 2)))
    write("missing-image.csv", rows(ok("a", 0), ok("missing", 1), ok("c", 2)))
    write("bom-crlf.csv", rows(ok("a", 0), ok("b", 1), ok("c", 2), crlf=True, bom=True))


def pickle_zip(pickle_bytes):
    """A torch.save-style zip archive holding `pickle_bytes` as its data.pkl."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        # A fixed date, so that the bytes do not change from run to run.
        for name, data in [("archive/data.pkl", pickle_bytes), ("archive/version", "3\n")]:
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 1, 0, 0, 0)), data)
    return out.getvalue()


class RunsCommand:
    """Pickled as a call to os.system(command); tools like fickling find such payloads."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write_pth(name, state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write(name, buffer.getvalue())


def weights():
    # PROTO 2, GLOBAL os.system, the command, TUPLE1, REDUCE, STOP: unpickling runs the command.
    command = f"touch {PWNED}".encode()
    evil = b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."
    write("os-system.pth", pickle_zip(evil))
    write("os-system-legacy.pth", evil)

    torch.manual_seed(0)
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], num_classes=3, width=2).eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(OUT, "tiny-resnet18.safetensors"))
    # Good weights with one more entry that runs the command when torch.load unpickles it
    # (the usual shape of a poisoned model file: it loads, and the payload runs on the side).
    write_pth("os-system-entry.pth", {**state, "_hook": RunsCommand(f"touch {PWNED}")})
    # Awkward but valid: the same weights halved, as people share them to save space.
    write_pth("tiny-resnet18-f16.pth", {k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    # Same bytes, one tensor declared [2, 2, 1, 9] instead of [2, 2, 3, 3].
    wrong = dict(state)
    wrong["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"].reshape(2, 2, 1, 9).contiguous()
    save_file(wrong, os.path.join(OUT, "wrong-shapes.safetensors"))

    bundle = os.path.join(OUT, "bad-checksum")
    os.makedirs(bundle, exist_ok=True)
    with open(os.path.join(OUT, "tiny-resnet18.safetensors"), "rb") as f:
        data = f.read()
    # One bit flipped after the manifest was written, as by a damaged download.
    damaged = bytearray(data)
    damaged[-1] ^= 1
    with open(os.path.join(bundle, "model.safetensors"), "wb") as f:
        f.write(bytes(damaged))
    manifest = {
        "format_version": 1,
        "arch": "resnet18",
        "base_width": 2,
        "task": TASK,
        "classes": ["Invisible", "Short Length", "Knee Length"],
        "preprocessing": {"resize": 37, "crop": 32, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "precision": "f32",
        "weights": {"file": "model.safetensors", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        "metrics": {},
    }
    with open(os.path.join(bundle, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def main():
    os.makedirs(OUT, exist_ok=True)
    images()
    csvs()
    weights()
    print("wrote", OUT, len(os.listdir(OUT)), "entries")


if __name__ == "__main__":
    main()
