#!/usr/bin/env python3
"""The PyTorch side of `trainer bench`: the same training step (torchvision resnet50, 6
classes, cross-entropy, SGD lr 0.001 momentum 0.9 weight decay 1e-4, fp32, synthetic batch)
and the same inference pass, timed the same way (warm-up, then synchronised timing).

    python3 tools/bench_torch.py --batch-sizes 32,64 --device cuda [--tf32]
"""

import argparse
import json
import time

import torch
import torchvision


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(args, batch, device):
    model = torchvision.models.get_model(args.arch, num_classes=args.classes).to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, args.input_size, args.input_size, device=device)
    y = torch.arange(batch, device=device) % args.classes

    def step():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
        loss.item()

    model.train()
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(1, args.warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    train = args.steps * batch / (time.perf_counter() - start)

    model.eval()
    with torch.no_grad():
        for _ in range(max(args.warmup, 1)):
            model(x).cpu()
        sync(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            model(x).cpu()
        infer = args.steps * batch / (time.perf_counter() - start)
    return {"batch_size": batch, "train_images_per_s": train, "infer_images_per_s": infer, "first_step_s": first}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--batch-sizes", default="32,64")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions")
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    device = torch.device(args.device)
    print(f"torch {torch.__version__} {args.arch} at {args.input_size}px on {device}, "
          f"{torch.get_num_threads()} threads, tf32={args.tf32}")
    results = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        r = measure(args, batch, device)
        print(f"batch {batch:>4}: train {r['train_images_per_s']:>8.1f} images/s, "
              f"inference {r['infer_images_per_s']:>8.1f} images/s (first step {r['first_step_s']:.1f} s)")
        results.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "device": str(device), "models": results}, f, indent=1)


if __name__ == "__main__":
    main()
