#!/usr/bin/env python3
"""Golden values for the recipe's tests (optimisers, schedules, losses), produced with PyTorch.

Run from the repository root (needs torch, numpy, safetensors):

    python3 tools/make_recipe_golden.py

Writes trainer/tests/golden/recipe/:

* optimizers.safetensors, optimizers.json: a tiny network (Conv2d 3->4 3x3 with bias,
  BatchNorm2d 4, Linear 4->5), three steps of fixed random gradients at the learning rates
  0.01, 0.02 and 0.005, and for each optimiser setting the parameters after each step and the
  optimiser's state after the last (AdamW's exp_avg and exp_avg_sq, SGD's momentum_buffer).
  Weight decay groups as torchvision's reference script (`set_weight_decay`) makes them:
  biases take bias_weight_decay, the norm layers' other weights norm_weight_decay, the rest
  weight_decay. The reference runs in float64. Also the gradients after
  torch.nn.utils.clip_grad_norm_ at max_norm 0.5 (`clipped.<step>.<name>`).
* schedules.json: for several schedules, the learning rate of every step as torch's schedulers
  give it (SequentialLR of a ConstantLR/LinearLR warm-up and a MultiStepLR/CosineAnnealingLR,
  and OneCycleLR), stepped once per optimiser step.
* losses.json: logits, targets and class weights, and torch's cross_entropy with and without
  label_smoothing and weight.
* augment.png, augment.safetensors, augment.json: a generated photo-like image, and
  torchvision's functional ops on it (as PIL images) for fixed parameters: resized_crop
  (bilinear and bicubic), adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue;
  and the statistics of 50000 draws of RandomResizedCrop.get_params on two image shapes
  (mean and standard deviation of the area share and of the log aspect ratio).
* auto_augment.safetensors, auto_augment.json: torchvision's TrivialAugmentWide and
  RandAugment ops (`autoaugment._apply_op`, bilinear) on augment.png, and on its left 60x60
  square, for fixed magnitudes; each policy's magnitude bins for a 32x48 input; and the
  statistics of 50000 ops drawn by each policy (how often each op is chosen, the share of
  negated magnitudes, and the mean and standard deviation of the chosen bin but Posterize's).
* mixing.safetensors, mixing.json: RandomErasing's `erase` of a counting tensor for a fixed
  region, and the statistics of 50000 RandomErasing.get_params draws on a 224x224 input; a
  batch of four images and logits, MixUp at lambda 0.3 and CutMix with a fixed box (images
  rolled and mixed as torchvision's transforms.v2 MixUp and CutMix do), and torch's
  cross-entropy of the mixed one-hot targets with label smoothing 0.1.

The Rust tests never need PyTorch.
"""

import json
import os

import torch
from safetensors.torch import save_file
from torch import nn

OUT = os.path.join("trainer", "tests", "golden", "recipe")
LRS = [0.01, 0.02, 0.005]

OPTIMIZERS = {
    "sgd_nesterov": {"opt": "sgd-nesterov", "momentum": 0.9, "weight_decay": 0.01},
    "sgd_nesterov_excluded": {
        "opt": "sgd-nesterov",
        "momentum": 0.9,
        "weight_decay": 0.01,
        "norm_weight_decay": 0.0,
        "bias_weight_decay": 0.0,
    },
    "adamw": {"opt": "adamw", "weight_decay": 0.05},
    "adamw_excluded": {
        "opt": "adamw",
        "weight_decay": 0.05,
        "norm_weight_decay": 0.0,
        "bias_weight_decay": 0.0,
    },
}


def tiny():
    torch.manual_seed(0)
    model = nn.ModuleDict({"conv": nn.Conv2d(3, 4, 3), "bn": nn.BatchNorm2d(4), "fc": nn.Linear(4, 5)})
    with torch.no_grad():
        model["bn"].weight.uniform_(0.5, 1.5)
        model["bn"].bias.uniform_(-0.5, 0.5)
    return model.double()


def parameter_groups(model, settings):
    """torchvision's references/classification/utils.py set_weight_decay, for this model."""
    decay = settings["weight_decay"]
    norm = settings.get("norm_weight_decay", decay)
    bias = settings.get("bias_weight_decay", decay)
    groups = {}
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "bias":
                value = bias
            elif isinstance(module, nn.BatchNorm2d):
                value = norm
            else:
                value = decay
            groups.setdefault(value, []).append(p)
    return [{"params": params, "weight_decay": value} for value, params in groups.items()]


def run_optimizer(settings, grads):
    model = tiny()
    groups = parameter_groups(model, settings)
    if settings["opt"] == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=LRS[0], betas=(0.9, 0.999), eps=1e-8)
    else:
        optimizer = torch.optim.SGD(groups, lr=LRS[0], momentum=settings["momentum"], nesterov=True)
    params = dict(model.named_parameters())
    after = []
    for step, lr in enumerate(LRS):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for name, p in params.items():
            p.grad = grads[step][name].clone()
        optimizer.step()
        after.append({name: p.detach().clone() for name, p in params.items()})
    states = {}
    for name, p in params.items():
        for key, value in optimizer.state[p].items():
            if torch.is_tensor(value) and value.dim() > 0:
                states[f"{key}.{name}"] = value
    return after, states


def optimizers():
    model = tiny()
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(1)
    grads = [
        {name: torch.randn(p.shape, generator=g, dtype=torch.float64) for name, p in params.items()}
        for _ in LRS
    ]
    tensors = {f"initial.{name}": p.detach() for name, p in params.items()}
    for step, step_grads in enumerate(grads):
        for name, grad in step_grads.items():
            tensors[f"grad.{step}.{name}"] = grad
        clipped = {name: grad.clone().requires_grad_(False) for name, grad in step_grads.items()}
        holders = [nn.Parameter(torch.zeros_like(grad)) for grad in clipped.values()]
        for holder, grad in zip(holders, clipped.values()):
            holder.grad = grad
        torch.nn.utils.clip_grad_norm_(holders, max_norm=0.5)
        for name, holder in zip(clipped, holders):
            tensors[f"clipped.{step}.{name}"] = holder.grad
    for variant, settings in OPTIMIZERS.items():
        after, states = run_optimizer(settings, grads)
        for step, values in enumerate(after):
            for name, value in values.items():
                tensors[f"{variant}.{step}.{name}"] = value
        for key, value in states.items():
            tensors[f"{variant}.state.{key}"] = value
    save_file(
        {k: v.float().contiguous() for k, v in tensors.items()},
        os.path.join(OUT, "optimizers.safetensors"),
    )
    with open(os.path.join(OUT, "optimizers.json"), "w") as f:
        json.dump({"lrs": LRS, "clip_grad_norm": 0.5, "variants": OPTIMIZERS}, f, indent=1)


SCHEDULES = [
    {"lr_scheduler": "cosine", "lr_warmup_epochs": 1, "lr_warmup_method": "linear", "lr_warmup_decay": 0.01, "lr_min": 1e-4},
    {"lr_scheduler": "cosine", "lr_warmup_epochs": 2, "lr_warmup_method": "constant", "lr_warmup_decay": 0.1, "lr_min": 0.0},
    {"lr_scheduler": "cosine", "lr_warmup_epochs": 0, "lr_warmup_method": "constant", "lr_warmup_decay": 0.01, "lr_min": 0.0},
    {"lr_scheduler": "step", "lr_steps": [2, 3], "lr_factor": 0.75, "lr_warmup_epochs": 1, "lr_warmup_method": "linear", "lr_warmup_decay": 0.1},
    {"lr_scheduler": "onecycle", "lr_warmup_epochs": 0},
    {"lr_scheduler": "onecycle", "lr_warmup_epochs": 1},
]
LR, EPOCHS, STEPS_PER_EPOCH = 0.1, 5, 7


def schedule_lrs(settings):
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=LR)
    total = EPOCHS * STEPS_PER_EPOCH
    warmup = settings["lr_warmup_epochs"] * STEPS_PER_EPOCH
    kind = settings["lr_scheduler"]
    if kind == "onecycle":
        pct = warmup / total if warmup else 0.3
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=total, pct_start=pct)
    else:
        if kind == "cosine":
            main = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=settings["lr_min"])
        else:
            milestones = [m * STEPS_PER_EPOCH for m in settings["lr_steps"]]
            main = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=settings["lr_factor"])
        if warmup:
            if settings["lr_warmup_method"] == "linear":
                first = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=settings["lr_warmup_decay"], total_iters=warmup)
            else:
                first = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=settings["lr_warmup_decay"], total_iters=warmup)
            scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [first, main], milestones=[warmup])
        else:
            scheduler = main
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def schedules():
    cases = [{**settings, "lrs": schedule_lrs(settings)} for settings in SCHEDULES]
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump({"lr": LR, "epochs": EPOCHS, "steps_per_epoch": STEPS_PER_EPOCH, "cases": cases}, f, indent=1)


def losses():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    targets = torch.tensor([0, 3, 1, 4, 4, 2])
    weights = torch.tensor([0.5, 2.0, 1.0, 1.5, 0.25], dtype=torch.float64)
    cases = []
    for smoothing in [0.0, 0.1, 0.3]:
        for weighted in [False, True]:
            loss = nn.functional.cross_entropy(
                logits, targets, weight=weights if weighted else None, label_smoothing=smoothing
            )
            cases.append({"label_smoothing": smoothing, "weighted": weighted, "loss": loss.item()})
    with open(os.path.join(OUT, "losses.json"), "w") as f:
        json.dump(
            {"logits": logits.tolist(), "targets": targets.tolist(), "weights": weights.tolist(), "cases": cases},
            f,
            indent=1,
        )


AUGMENT_OPS = [
    ["resized_crop", [5, 7, 40, 52], "bilinear"],
    ["resized_crop", [0, 0, 60, 80], "bicubic"],
    ["resized_crop", [20, 31, 13, 9], "bilinear"],
    ["brightness", 1.4],
    ["brightness", 0.35],
    ["contrast", 0.3],
    ["contrast", 1.7],
    ["saturation", 0.0],
    ["saturation", 1.8],
    ["hue", -0.3],
    ["hue", 0.12],
    ["hue", 0.5],
]


def augment_input():
    """An 80x60 image with smooth colour gradients, edges and noise, like a photo."""
    g = torch.Generator().manual_seed(3)
    y, x = torch.meshgrid(torch.arange(60.0), torch.arange(80.0), indexing="ij")
    r = 128 + 100 * torch.sin(x / 9) * torch.cos(y / 13)
    gr = 90 + 1.5 * x - 0.8 * y
    b = 60 + 150 * ((x - 40) ** 2 + (y - 30) ** 2 < 300).float()
    image = torch.stack([r, gr, b], -1) + 12 * torch.randn(60, 80, 3, generator=g)
    return image.clamp(0, 255).round().to(torch.uint8)


def augment():
    from PIL import Image
    from torchvision.transforms import InterpolationMode, RandomResizedCrop
    from torchvision.transforms import functional as F

    pixels = augment_input()
    path = os.path.join(OUT, "augment.png")
    Image.fromarray(pixels.numpy(), "RGB").save(path)
    image = Image.open(path).convert("RGB")
    outputs = {}
    for index, (op, parameter, *rest) in enumerate(AUGMENT_OPS):
        if op == "resized_crop":
            top, left, height, width = parameter
            mode = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}[rest[0]]
            out = F.resized_crop(image, top, left, height, width, [32, 32], mode)
        else:
            out = getattr(F, f"adjust_{op}")(image, parameter)
        outputs[str(index)] = torch.from_numpy(__import__("numpy").array(out)).contiguous()
    save_file(outputs, os.path.join(OUT, "augment.safetensors"))
    torch.manual_seed(4)
    shapes = {}
    for width, height in [(400, 300), (50, 400)]:
        shares, logs = [], []
        img = Image.new("RGB", (width, height))
        for _ in range(50000):
            top, left, h, w = RandomResizedCrop.get_params(img, [0.08, 1.0], [3 / 4, 4 / 3])
            shares.append(h * w / (width * height))
            logs.append(__import__("math").log(w / h))
        shares, logs = torch.tensor(shares, dtype=torch.float64), torch.tensor(logs, dtype=torch.float64)
        shapes[f"{width}x{height}"] = {
            "share_mean": shares.mean().item(),
            "share_std": shares.std().item(),
            "log_ratio_mean": logs.mean().item(),
            "log_ratio_std": logs.std().item(),
        }
    with open(os.path.join(OUT, "augment.json"), "w") as f:
        json.dump({"ops": AUGMENT_OPS, "draws": 50000, "rrc": shapes}, f, indent=1)


AUTO_AUGMENT_OPS = [
    ["Identity", 0.0], ["ShearX", 0.3], ["ShearX", -0.66], ["ShearY", 0.5], ["ShearY", -0.99],
    ["TranslateX", 13.0], ["TranslateX", -7.6], ["TranslateY", 32.0], ["TranslateY", -20.2],
    ["Rotate", 30.0], ["Rotate", -4.5], ["Rotate", 90.0], ["Rotate", 135.0],
    ["Rotate", 90.0, "square"], ["Rotate", -90.0, "square"], ["Rotate", 13.5, "square"],
    ["Brightness", -0.5], ["Brightness", 0.99], ["Color", -0.99], ["Color", 0.6],
    ["Contrast", 0.45], ["Contrast", -0.9], ["Sharpness", 0.9], ["Sharpness", -0.9],
    ["Sharpness", 0.3, "square"], ["Posterize", 2.0], ["Posterize", 4.0], ["Posterize", 7.0],
    ["Solarize", 246.5], ["Solarize", 128.0], ["Solarize", 0.0], ["AutoContrast", 0.0],
    ["Equalize", 0.0], ["Equalize", 0.0, "square"],
]


def auto_augment():
    import numpy as np
    from PIL import Image
    from torchvision.transforms import InterpolationMode, RandAugment, TrivialAugmentWide
    from torchvision.transforms import autoaugment

    image = Image.open(os.path.join(OUT, "augment.png")).convert("RGB")
    outputs = {}
    for index, (op, magnitude, *rest) in enumerate(AUTO_AUGMENT_OPS):
        source = image.crop((0, 0, 60, 60)) if rest else image
        out = autoaugment._apply_op(source, op, magnitude, InterpolationMode.BILINEAR, None)
        outputs[str(index)] = torch.from_numpy(np.array(out)).contiguous()
    save_file(outputs, os.path.join(OUT, "auto_augment.safetensors"))

    policies = {
        "ta_wide": TrivialAugmentWide(interpolation=InterpolationMode.BILINEAR),
        "ra": RandAugment(interpolation=InterpolationMode.BILINEAR, magnitude=9),
    }
    bins, draws = {}, {}
    small = Image.new("RGB", (32, 48))
    for name, policy in policies.items():
        space = (policy._augmentation_space(31, (48, 32)) if name == "ra"
                 else policy._augmentation_space(31))
        bins[name] = {op: m.tolist() if m.ndim > 0 else None for op, (m, _) in space.items()}
        chosen = []
        original = autoaugment._apply_op
        autoaugment._apply_op = lambda img, op, m, **_: chosen.append((op, m)) or img
        torch.manual_seed(9)
        for _ in range(50000 if name == "ta_wide" else 25000):
            policy(small)
        autoaugment._apply_op = original
        names = list(space)
        counts = [sum(op == n for op, _ in chosen) for n in names]
        signed = [(op, m) for op, m in chosen if space[op][1] and m != 0]
        # (Posterize's bins repeat values: its bin cannot be told from its magnitude.)
        index = [int(torch.argmin((space[op][0].double() - abs(m)).abs())) for op, m in chosen
                 if space[op][0].ndim > 0 and op != "Posterize"]
        index = torch.tensor(index, dtype=torch.float64)
        draws[name] = {
            "ops": len(chosen),
            "op_share": [c / len(chosen) for c in counts],
            "negative_share": sum(m < 0 for _, m in signed) / len(signed),
            "bin_mean": index.mean().item(),
            "bin_std": index.std().item(),
        }
    with open(os.path.join(OUT, "auto_augment.json"), "w") as f:
        json.dump({"ops": AUTO_AUGMENT_OPS, "bins": bins, "draws": draws}, f, indent=1)


def mixing():
    from torchvision.transforms import RandomErasing
    from torchvision.transforms import functional as F

    tensors = {}
    counting = torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(3, 8, 8)
    tensors["erase_input"] = counting
    tensors["erased"] = F.erase(counting.clone(), 1, 2, 3, 5, torch.tensor(0.0))
    torch.manual_seed(7)
    image = torch.zeros(3, 224, 224)
    shares, logs = [], []
    for _ in range(50000):
        i, j, h, w, _ = RandomErasing.get_params(image, (0.02, 0.33), (0.3, 3.3), [0.0])
        if (h, w) != (224, 224):  # the failed draws leave the image as it is
            shares.append(h * w / 224**2)
            logs.append(__import__("math").log(h / w))
    shares, logs = torch.tensor(shares, dtype=torch.float64), torch.tensor(logs, dtype=torch.float64)
    erasing = {"share_mean": shares.mean().item(), "share_std": shares.std().item(),
               "log_ratio_mean": logs.mean().item(), "log_ratio_std": logs.std().item()}

    g = torch.Generator().manual_seed(8)
    images = torch.randn(4, 3, 8, 8, generator=g)
    logits = torch.randn(4, 5, generator=g, dtype=torch.float64)
    targets = torch.tensor([0, 3, 1, 2])
    one_hot = nn.functional.one_hot(targets, 5).double()
    lam = 0.3
    # transforms.v2.MixUp: rolled * (1 - lam) + images * lam, the same for the one-hot targets.
    tensors["images"] = images
    tensors["mixup"] = images.roll(1, 0).mul(1.0 - lam).add(images.mul(lam))
    mixup_loss = nn.functional.cross_entropy(
        logits, one_hot.roll(1, 0) * (1 - lam) + one_hot * lam, label_smoothing=0.1).item()
    # transforms.v2.CutMix: the box [x1, x2) x [y1, y2) from the rolled batch.
    x1, y1, x2, y2 = 2, 1, 7, 5
    cut = images.clone()
    cut[..., y1:y2, x1:x2] = images.roll(1, 0)[..., y1:y2, x1:x2]
    tensors["cutmix"] = cut
    cut_lam = 1.0 - (x2 - x1) * (y2 - y1) / (8 * 8)
    cutmix_loss = nn.functional.cross_entropy(
        logits, one_hot.roll(1, 0) * (1 - cut_lam) + one_hot * cut_lam, label_smoothing=0.1).item()
    tensors["logits"] = logits.float()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "mixing.safetensors"))
    with open(os.path.join(OUT, "mixing.json"), "w") as f:
        json.dump({"erase_region": [1, 2, 3, 5], "erasing": erasing, "targets": targets.tolist(),
                   "label_smoothing": 0.1, "mixup_lambda": lam, "mixup_loss": mixup_loss,
                   "cutmix_box": [x1, y1, x2, y2], "cutmix_lambda": cut_lam,
                   "cutmix_loss": cutmix_loss}, f, indent=1)


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    optimizers()
    schedules()
    losses()
    augment()
    auto_augment()
    mixing()
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
