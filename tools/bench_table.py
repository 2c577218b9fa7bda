#!/usr/bin/env python3
"""One markdown table from the JSON files `scripts/bench-gpu.sh` leaves in its folder:
burn (`trainer bench`) next to PyTorch at each precision, the ratios the performance targets
are stated in, first-step times with a cold and a warm kernel cache, and the input pipeline.

    python3 tools/bench_table.py target/bench-gpu
"""

import json
import pathlib
import sys


def load(folder, name):
    path = folder / name
    return json.loads(path.read_text()) if path.exists() else None


def by_batch(report):
    return {m["batch_size"]: m for m in report["models"]} if report else {}


def main():
    folder = pathlib.Path(sys.argv[1])
    gpu = (folder / "gpu.txt").read_text().strip() if (folder / "gpu.txt").exists() else "?"
    burns = {}  # precision -> (batch -> result, batch -> peak MiB)
    for path in sorted(folder.glob("burn-f*-b*.json")):
        precision, batch = path.stem[len("burn-"):].split("-b")
        models, memory = burns.setdefault(precision, ({}, {}))
        models[int(batch)] = by_batch(json.loads(path.read_text()))[int(batch)]
        mem = path.with_suffix(".mem")
        memory[int(batch)] = float(mem.read_text()) if mem.exists() else None
    burn = burns.get("f32", ({}, {}))[0]
    torch = {p: load(folder, f"torch-{p}.json") for p in ("fp32", "tf32", "bf16")}
    batches = sorted({b for models, _ in burns.values() for b in models}
                     | {b for t in torch.values() for b in by_batch(t)})

    def cell(model, key):
        return f"{model[key]:.0f}" if model and model.get(key) is not None else "-"

    print(f"GPU: {gpu}; torch {next((t['torch'] for t in torch.values() if t), '?')}\n")
    header = " | ".join(f"train b{b}" for b in batches) + " | " + " | ".join(
        f"infer b{b}" for b in batches) + " | " + " | ".join(f"peak MiB b{b}" for b in batches)
    print(f"| images/s | {header} |")
    print("|---" * (1 + 3 * len(batches)) + "|")
    rows = [(f"burn wgpu {p} (`trainer bench`)", models, memory)
            for p, (models, memory) in sorted(burns.items(), key=lambda kv: kv[0] != "f32")]
    for precision, report in torch.items():
        if report:
            models = by_batch(report)
            rows.append((f"PyTorch {precision}", models,
                         {b: m.get("train_peak_mib") for b, m in models.items()}))
    for name, models, mem in rows:
        train = " | ".join(cell(models.get(b), "train_images_per_s") for b in batches)
        infer = " | ".join(cell(models.get(b), "infer_images_per_s") for b in batches)
        peak = " | ".join(f"{mem[b]:.0f}" if mem.get(b) is not None else "-" for b in batches)
        print(f"| {name} | {train} | {infer} | {peak} |")

    print()
    for ours, theirs in (("f32", "fp32"), ("f16", "bf16")):
        mine, other = burns.get(ours, ({}, {}))[0], by_batch(torch[theirs])
        ratios = [f"b{b} {mine[b]['train_images_per_s'] / other[b]['train_images_per_s']:.2f}x"
                  for b in batches if b in mine and b in other]
        if ratios:
            print(f"burn {ours} / PyTorch {theirs}, training: {', '.join(ratios)} "
                  "(target at b64: >= 1.0x)")

    cold, warm = load(folder, "burn-cold.json"), load(folder, "burn-warm.json")
    if cold and warm:
        print(f"burn's first training step (b32): cold kernel cache {cold['models'][0]['first_step_s']:.1f} s, "
              f"warm {warm['models'][0]['first_step_s']:.1f} s (targets: < 60 s, < 10 s)")
    ours, theirs = load(folder, "pipeline.json"), load(folder, "torch-pipeline.json")
    if ours:
        line = (f"input pipeline: ours {ours['pipeline_images_per_s']:.0f} images/s on "
                f"{ours['pipeline_threads']} threads")
        if theirs:
            line += f", PIL + torchvision {theirs['pipeline_images_per_s']:.0f}"
        if 64 in burn:
            line += (f"; {ours['pipeline_images_per_s'] / burn[64]['train_images_per_s']:.1f}x "
                     "burn's training rate at b64 (target >= 2x)")
        print(line)
        if ours.get("modern_pipeline_images_per_s"):
            line = f"with --recipe modern's augmentation: ours {ours['modern_pipeline_images_per_s']:.0f}"
            if theirs and theirs.get("modern_pipeline_images_per_s"):
                line += f", PIL + torchvision {theirs['modern_pipeline_images_per_s']:.0f}"
            print(line + " images/s")


if __name__ == "__main__":
    main()
