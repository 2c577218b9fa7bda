#!/usr/bin/env python3
"""One markdown table from the JSON files `scripts/bench-cpu.sh` leaves in its folder: per
architecture and batch size, inference images/s of each runner (the last is the reference),
and each other runner's ratio to it.

    python3 tools/cpu_table.py target/bench-cpu "burn PyTorch" resnet18 resnet50 ...
"""

import json
import pathlib
import sys


def rates(folder, arch, runner):
    """Images/s by batch size, from every JSON file of this architecture and runner."""
    out = {}
    for path in sorted(folder.glob(f"{arch}-{runner}-*.json")):
        for model in json.loads(path.read_text())["models"]:
            out[model["batch_size"]] = model["infer_images_per_s"]
    return out


def main():
    folder, runners, archs = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
    *ours, reference = runners
    print("| `--arch` | batch | " + " | ".join(runners) + " | "
          + " | ".join(f"{r} / {reference}" for r in ours) + " |")
    print("|---|---|" + "---|" * (len(runners) + len(ours)))
    for arch in archs:
        measured = {runner: rates(folder, arch, runner) for runner in runners}
        for batch in sorted(measured[reference]):
            row = [measured[runner].get(batch) for runner in runners]
            cells = [f"{r:.1f}" if r else "-" for r in row]
            ratios = [f"{r / row[-1]:.2f}" if r else "-" for r in row[:-1]]
            print(f"| `{arch}` | {batch} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
