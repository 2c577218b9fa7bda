#!/usr/bin/env python3
"""The PyTorch side of `trainer bench`: the same training step (torchvision resnet50, 6
classes, cross-entropy, SGD lr 0.001 momentum 0.9 weight decay 1e-4, synthetic batch) and the
same inference pass, timed the same way (warm-up, then synchronised timing); and the same input
pipeline (decode a 600x800 JPEG, Resize(256, bicubic), RandomCrop(224), RandomHorizontalFlip,
ToTensor, Normalize) on a process pool, as a DataLoader's workers run it, and the same with
`--recipe modern`'s augmentation (RandomResizedCrop(224, scale (0.25, 1), bicubic),
RandomHorizontalFlip, TrivialAugmentWide (bilinear), then after Normalize RandomErasing(0.1)).

Precisions: fp32 (TF32 off), tf32 (TF32 matmuls and convolutions), bf16 (autocast to bf16
with fp32 master weights, channels_last: PyTorch's fastest usual recipe).

    python3 tools/bench_torch.py --batch-sizes 32,64,128 --device cuda --precision bf16
"""

import argparse
import io
import json
import multiprocessing
import os
import time

import numpy as np

import torch
import torchvision


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(args, batch, device):
    bf16 = args.precision == "bf16"
    layout = torch.channels_last if bf16 else torch.contiguous_format
    model = torchvision.models.get_model(args.arch, num_classes=args.classes)
    model = model.to(device, memory_format=layout)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, args.input_size, args.input_size, device=device)
    x = x.contiguous(memory_format=layout)
    y = torch.arange(batch, device=device) % args.classes
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():
        optimiser.zero_grad()
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimiser.step()
        loss.item()

    train = first = None
    if args.bench != "inference":
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

    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None

    infer = None
    if args.bench != "train":
        model.eval()
        with torch.no_grad(), autocast():
            for _ in range(max(args.warmup, 1)):
                model(x).cpu()
            sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                model(x).cpu()
            infer = args.steps * batch / (time.perf_counter() - start)
    return {"batch_size": batch, "train_images_per_s": train, "infer_images_per_s": infer,
            "first_step_s": first, "train_peak_mib": peak}


def photo_jpeg():
    """The JPEG `trainer bench` decodes: the same 600x800 pattern, quality 75."""
    from PIL import Image

    x, y = np.meshgrid(np.arange(600), np.arange(800))
    pixels = np.stack([x % 251, y % 241, (x * y) % 239], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=75)
    return out.getvalue()


def train_input(jpeg, modern=False):
    from PIL import Image
    from torchvision import transforms as T

    bicubic = T.InterpolationMode.BICUBIC
    crop = ([T.RandomResizedCrop(224, scale=(0.25, 1.0), interpolation=bicubic)] if modern
            else [T.Resize(256, interpolation=bicubic), T.RandomCrop(224)])
    policy = [T.TrivialAugmentWide(interpolation=T.InterpolationMode.BILINEAR)] if modern else []
    erase = [T.RandomErasing(0.1)] if modern else []
    transform = T.Compose(crop + [T.RandomHorizontalFlip()] + policy + [
        T.ToTensor(),
        T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ] + erase)
    return transform(Image.open(io.BytesIO(jpeg)).convert("RGB")).shape


def modern_input(jpeg):
    return train_input(jpeg, modern=True)


def measure_pipeline(images, workers, transform=train_input):
    jpeg = photo_jpeg()
    with multiprocessing.Pool(workers) as pool:
        pool.map(transform, [jpeg] * workers)  # start the workers
        start = time.perf_counter()
        pool.map(transform, [jpeg] * images, chunksize=4)
        return images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--bench", choices=["both", "train", "inference"], default="both",
                        help="what to time, as timm's benchmark.py --bench")
    parser.add_argument("--batch-sizes", default="32,64")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="fp32")
    parser.add_argument("--pipeline-images", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--json")
    args = parser.parse_args()
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    device = torch.device(args.device)
    print(f"torch {torch.__version__} {args.arch} at {args.input_size}px on {device}, "
          f"{torch.get_num_threads()} threads, {args.precision}")
    results = []
    for batch in [int(b) for b in args.batch_sizes.split(",") if b]:
        r = measure(args, batch, device)
        line = f"batch {batch:>4}:"
        if r["train_images_per_s"] is not None:
            line += (f" train {r['train_images_per_s']:>8.1f} images/s"
                     f" (first step {r['first_step_s']:.1f} s)")
        if r["infer_images_per_s"] is not None:
            line += f" inference {r['infer_images_per_s']:>8.1f} images/s"
        print(line)
        results.append(r)
    pipeline = modern = None
    if args.pipeline_images > 0:
        pipeline = measure_pipeline(args.pipeline_images, args.workers)
        modern = measure_pipeline(args.pipeline_images, args.workers, modern_input)
        print(f"input pipeline (PIL + torchvision transforms): {pipeline:.1f} images/s on "
              f"{args.workers} processes; with the modern augmentation {modern:.1f} images/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"torch": torch.__version__, "device": str(device), "precision": args.precision,
                 "models": results,
                 "pipeline_images_per_s": pipeline,
                 "modern_pipeline_images_per_s": modern},
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
