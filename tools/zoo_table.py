#!/usr/bin/env python3
"""One markdown table from the JSON files `scripts/bench-zoo.sh` leaves in its folder: per
architecture, `trainer bench` next to PyTorch on the CPU (training and inference images/s and
their ratio), and the page's CPU path next to ONNX Runtime Web (bundle size, model ready, ms
per photo).

    python3 tools/zoo_table.py target/bench-zoo resnet50 mobilenet_v3_small ...
"""

import json
import pathlib
import sys


def main():
    folder, archs = pathlib.Path(sys.argv[1]), sys.argv[2:]
    print("| `--arch` | train img/s, burn / PyTorch | inference img/s, burn / PyTorch "
          "| bundle MB | page ready s | page ms / photo | ORT Web ms / photo |")
    print("|---|---|---|---|---|---|---|")
    for arch in archs:
        burn = json.loads((folder / f"{arch}-burn.json").read_text())["models"][0]
        torch = json.loads((folder / f"{arch}-torch.json").read_text())["models"][0]
        web = json.loads((folder / f"{arch}-web.json").read_text())
        page = next(r for r in web["rows"] if r["path"].startswith("page"))
        ort = next((r for r in web["rows"] if r["path"].startswith("ort")), None)
        train = (burn["train_images_per_s"], torch["train_images_per_s"])
        infer = (burn["infer_images_per_s"], torch["infer_images_per_s"])
        print(f"| `{arch}` "
              f"| {train[0]:.1f} / {train[1]:.1f} ({train[0] / train[1]:.2f}x) "
              f"| {infer[0]:.1f} / {infer[1]:.1f} ({infer[0] / infer[1]:.2f}x) "
              f"| {web['bundle_bytes'] / 1e6:.1f} | {page['ready_s']:.1f} | {page['ms']} "
              f"| {ort['ms'] if ort else 'failed'} |")


if __name__ == "__main__":
    main()
