#!/usr/bin/env python3
"""The PyTorch side of the recipe comparison in BENCHMARKS.md: `trainer train`'s two presets,
`--recipe tutorial` and `--recipe modern`, in PyTorch with torchvision's transforms and
torch.optim, on a run folder prepared by `trainer prepare` (the same split), from random
weights, on a narrow ResNet-18 (`--base-width`). Prints and writes (`--json`) each epoch's
validation accuracy and FashionAI AP, computed as the trainer computes them (and with the
modern recipe, of the EMA of the weights too).

    python3 tools/train_torch.py --run runs/digits --recipe modern --epochs 10 --seed 1 \
        --input-size 64 --base-width 8 --batch-size 32 --json torch-modern-1.json
"""

import argparse
import copy
import csv
import json
import os
import sys

import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import NarrowResNet  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def read_split(run, name):
    with open(os.path.join(run, f"{name}.csv")) as f:
        rows = list(csv.DictReader(f))
    return [(row["image"], row["label"].index("y")) for row in rows]


class Images(torch.utils.data.Dataset):
    def __init__(self, rows, transform):
        self.rows, self.transform = rows, transform

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        path, label = self.rows[index]
        return self.transform(Image.open(path).convert("RGB")), label


def transforms(recipe, crop):
    resize = -(-crop * 256 // 224)  # the trainer's ResNet sizes: 256/224 of the crop, rounded up
    bicubic = T.InterpolationMode.BICUBIC
    normalise = [T.ToTensor(), T.Normalize(MEAN, STD)]
    if recipe == "tutorial":
        train = [T.Resize(resize, bicubic), T.RandomCrop(crop), T.RandomHorizontalFlip()] + normalise
    else:
        train = [T.RandomResizedCrop(crop, scale=(0.25, 1.0), interpolation=bicubic),
                 T.RandomHorizontalFlip(), T.TrivialAugmentWide(interpolation=T.InterpolationMode.BILINEAR)
                 ] + normalise + [T.RandomErasing(0.1)]
    valid = [T.Resize(resize, bicubic), T.CenterCrop(crop)] + normalise
    return T.Compose(train), T.Compose(valid)


def optimiser(recipe, model, lr, epochs, steps):
    if recipe == "tutorial":
        optim = torch.optim.SGD(model.parameters(), lr=lr or 0.001, momentum=0.9, weight_decay=1e-4)
        milestones = [epoch * steps for epoch in (10, 20, 30) if epoch < epochs]
        return optim, torch.optim.lr_scheduler.MultiStepLR(optim, milestones, gamma=0.75)
    # modern: AdamW, decay 0.05 off norms and biases (torchvision's set_weight_decay), the
    # classifier at 10x, 2 warm-up epochs from 0.01 then cosine to 0, per step.
    lr = lr or 1e-4
    groups = {}
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            no_decay = name == "bias" or isinstance(module, nn.BatchNorm2d)
            head = module_name == "fc"
            key = (head, no_decay)
            groups.setdefault(key, []).append(p)
    optim = torch.optim.AdamW(
        [{"params": ps, "lr": lr * (10 if head else 1), "weight_decay": 0.0 if no_decay else 0.05}
         for (head, no_decay), ps in groups.items()],
        lr=lr, betas=(0.9, 0.999), eps=1e-8)
    warmup = 2 * steps
    schedule = torch.optim.lr_scheduler.SequentialLR(optim, [
        torch.optim.lr_scheduler.LinearLR(optim, start_factor=0.01, total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=epochs * steps - warmup, eta_min=0.0),
    ], milestones=[warmup])
    return optim, schedule


class Ema:
    """timm's ModelEmaV3 with its warm-up, decay 0.9998: every parameter and buffer, after each
    optimiser step."""

    def __init__(self, model):
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.steps = 0

    @torch.no_grad()
    def update(self, model):
        self.steps += 1
        decay = 0.0 if self.steps == 1 else min(1 - self.steps ** (-2 / 3), 0.9998)
        for ema, value in zip(self.module.state_dict().values(), model.state_dict().values()):
            if ema.is_floating_point():
                ema.lerp_(value, 1.0 - decay)
            else:
                ema.copy_(value)


def evaluate(model, valid):
    """Validation accuracy and FashionAI AP."""
    model.eval()
    with torch.no_grad():
        outputs = [(model(images).softmax(1), labels) for images, labels in valid]
    probabilities = torch.cat([p for p, _ in outputs])
    labels = torch.cat([l for _, l in outputs])
    return (probabilities.argmax(1) == labels).double().mean().item(), fashionai_ap(probabilities, labels)


def fashionai_ap(probabilities, labels):
    """The competition's AP of one task without `m` marks: the mean, over every cut-off of the
    images sorted by confidence, of the precision of the images kept."""
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).double()[confidence.argsort(descending=True)]
    return (correct.cumsum(0) / torch.arange(1, len(correct) + 1)).mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--recipe", choices=["tutorial", "modern"], default="tutorial")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--base-width", type=int, default=8)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    with open(os.path.join(args.run, "dataset.json")) as f:
        classes = len(json.load(f)["classes"])
    train_transform, valid_transform = transforms(args.recipe, args.input_size)
    train = torch.utils.data.DataLoader(Images(read_split(args.run, "train"), train_transform),
                                        batch_size=args.batch_size, shuffle=True, drop_last=True,
                                        num_workers=2, persistent_workers=True)
    valid = torch.utils.data.DataLoader(Images(read_split(args.run, "val"), valid_transform),
                                        batch_size=64, num_workers=2)
    model = NarrowResNet(BasicBlock, [2, 2, 2, 2], num_classes=classes, width=args.base_width)
    # torchvision's ResNet initialisation (NarrowResNet skips ResNet.__init__, which does it),
    # as the trainer's.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    optim, schedule = optimiser(args.recipe, model, args.lr, args.epochs, len(train))
    smoothing = 0.1 if args.recipe == "modern" else 0.0
    ema = Ema(model) if args.recipe == "modern" else None
    epochs = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        for images, labels in train:
            optim.zero_grad()
            nn.functional.cross_entropy(model(images), labels, label_smoothing=smoothing).backward()
            optim.step()
            schedule.step()
            if ema:
                ema.update(model)
        record = {"epoch": epoch}
        record["accuracy"], record["fashionai_ap"] = evaluate(model, valid)
        line = f"epoch {epoch}: val accuracy {record['accuracy']:.4f}, FashionAI AP {record['fashionai_ap']:.4f}"
        if ema:
            record["ema_accuracy"], record["ema_fashionai_ap"] = evaluate(ema.module, valid)
            line += f"; EMA: accuracy {record['ema_accuracy']:.4f}, FashionAI AP {record['ema_fashionai_ap']:.4f}"
        print(line, flush=True)
        epochs.append(record)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"recipe": args.recipe, "seed": args.seed, "torch": torch.__version__,
                       "epochs": epochs}, f, indent=1)


if __name__ == "__main__":
    main()
